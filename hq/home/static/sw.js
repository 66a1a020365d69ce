// sw.js: filled by its package's change.
