export * from './cases.ts';
export * from './customers.ts';
export * from './messaging.ts';
export * from './staff.ts';
