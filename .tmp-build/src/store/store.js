/**
 * The storage port: everything massenger keeps or reads in the database, as row types the core
 * understands. `SqlStore` is the only implementation (one SQL dialect for PostgreSQL and PGlite);
 * it runs over a `Db`, which is the part that differs between the two.
 *
 * Ids are decimal strings (PostgreSQL bigint), times are Date. Every method translates driver
 * failures at this boundary: a database that cannot be reached becomes AppError('UNAVAILABLE'),
 * so the core never sees a driver error.
 */
export {};
