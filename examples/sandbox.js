#!/usr/bin/env node
// Drive a sandbox from Node.js with plain file calls, no library: create
// it, configure it, run two jobs and read their output and exit codes,
// handle a refused write by reading `error`, and clean up.
//
//     examples/sandbox.js [MOUNTPOINT]        (default /mnt/ns)
//
// The same steps as sandbox.sh and sandbox.py, with the same output.
'use strict';
const fs = require('fs');
const path = require('path');

const mnt = process.argv[2] || '/mnt/ns';

// One value in one write(2): nsfs takes each write as a whole value.
function write(file, text) {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

const read = (file) => fs.readFileSync(file, 'utf8');

// Start a job; the open file that took the command line reads back the
// new job's id.
function run(box, cmdline) {
  const fd = fs.openSync(path.join(box, 'exec'), 'r+');
  try {
    fs.writeSync(fd, cmdline);
    const buf = Buffer.alloc(32);
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    return parseInt(buf.toString('utf8', 0, n), 10);
  } finally {
    fs.closeSync(fd);
  }
}

const box = path.join(mnt, `js-${process.pid}`);
fs.mkdirSync(box);
try {
  console.log(`created ${path.basename(box)}`);
  write(path.join(box, 'hostname'), 'demo');
  let job = run(box, 'sh -c "echo hello from $(hostname)"');
  let dir = path.join(box, 'jobs', String(job));
  console.log(`job ${job}: ${read(path.join(dir, 'wait')).trim()}`); // blocks until it ends
  console.log(`stdout: ${read(path.join(dir, 'stdout')).trim()}`);
  job = run(box, 'sh -c "echo oops >&2; exit 3"');
  dir = path.join(box, 'jobs', String(job));
  console.log(`job ${job}: ${read(path.join(dir, 'wait')).trim()}`);
  console.log(`stderr: ${read(path.join(dir, 'stderr')).trim()}`);
  try {
    run(box, 'no-such-program');
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    console.log(`refused: ${read(path.join(box, 'error')).trim()}`);
  }
} finally {
  fs.rmdirSync(box);
}
