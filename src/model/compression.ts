/**
 * The body compressions a part can be written with: Arrow IPC's BodyCompression codecs, named as
 * the options spell them (`lz4` is Arrow's LZ4_FRAME). Readers accept all of them.
 */
export const PART_COMPRESSIONS = ['none', 'zstd', 'lz4'] as const;

export type PartCompression = (typeof PART_COMPRESSIONS)[number];
