#!/usr/bin/env node
/** Entry point of the `gatehouse` executable. */
import { main } from './main.js';
import { EXIT } from './io.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gatehouse: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.failure;
  },
);
