// lz4js ships no type declarations; this covers the functions compactd calls.
declare module 'lz4js' {
  interface Lz4js {
    /** Compresses `src` into one LZ4 frame (64-bit-free header, 4 MiB blocks, no checksums). */
    compress(src: Uint8Array, maxSize?: number): Uint8Array;
    /**
     * Decompresses one LZ4 block of `sLength` bytes at `src[sIndex]` into `dst` from `dIndex`,
     * returning the new end index in `dst`. Writes past the end of `dst` are dropped silently.
     */
    decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number;
  }
  const lz4js: Lz4js;
  export default lz4js;
}
