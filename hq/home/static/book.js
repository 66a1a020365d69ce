// book.js: filled by its package's change.
