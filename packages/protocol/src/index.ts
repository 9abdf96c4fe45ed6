export * from './changes.js';
export * from './documents.js';
export * from './errors.js';
export * from './filter.js';
export * from './names.js';
export * from './operations.js';
export * from './position.js';
export * from './vector-clock.js';
