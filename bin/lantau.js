#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx: one tree, no build step to forget (README, "Why tsx").
import { register } from 'tsx/esm/api';

register();
await import('../src/edges/cli/main.ts');
