// watch.js: filled by its package's change.
