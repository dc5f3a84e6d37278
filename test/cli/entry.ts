// Runs the CLI from source the way bin/compactd.js runs it from dist, for the child-process test.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
