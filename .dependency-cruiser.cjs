// Import direction: cli -> service -> compact -> part, blob, model (docs/design.md). Each rule names a
// layer and what it must not reach; a violation fails `npm run lint`.
const layer = (name) => `^src/${name}/`;
const rule = (from, forbidden, comment) => ({
  name: `${from}-not-to-${forbidden.join('-')}`,
  comment,
  severity: 'error',
  from: { path: layer(from) },
  to: { path: forbidden.map(layer).join('|') },
});
const UPPER = ['cli', 'service', 'client', 'loadgen'];

module.exports = {
  forbidden: [
    rule('model', ['part', 'blob', 'compact', 'wire', 'gen', 'obs', 'config', ...UPPER], 'the domain model is the bottom layer'),
    rule('part', ['blob', 'compact', 'wire', 'gen', 'config', ...UPPER], 'the part codec only knows the model'),
    rule('blob', ['part', 'compact', 'wire', 'gen', 'config', ...UPPER], 'blob stores only know keys and bytes'),
    rule('obs', ['part', 'blob', 'compact', 'wire', 'gen', 'config', ...UPPER], 'observability is a leaf'),
    rule('config', ['part', 'blob', 'compact', 'wire', 'gen', ...UPPER], 'options are parsed below everything that uses them'),
    rule('compact', ['wire', 'gen', 'config', ...UPPER], 'the engine knows nothing of gRPC or the service'),
    rule('wire', ['part', 'blob', 'compact', 'config', ...UPPER], 'proto conversion only maps to the model'),
    rule('client', ['compact', 'service', 'cli', 'config', 'loadgen'], 'the writer library stands on its own'),
    rule('service', ['cli', 'loadgen'], 'the service never reaches up into the CLI'),
    rule('loadgen', ['compact', 'service', 'cli', 'config'], 'the load generator is a client of the service'),
    {
      name: 'engine-without-grpc',
      comment: 'the compaction engine must run without gRPC (CLI --local, benchmarks)',
      severity: 'error',
      from: { path: '^src/(compact|part|blob|model)/' },
      to: { path: '@grpc' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/gen/' },
  },
};
