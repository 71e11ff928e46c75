#!/usr/bin/env node
// Launcher: pith ships TypeScript sources and runs them through tsx, so the repository needs no build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
