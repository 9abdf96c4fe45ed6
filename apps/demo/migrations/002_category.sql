-- The categories of the products (`knex migrate:make category`); the seed gives them ids 1..8.
CREATE TABLE category (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  "lastUpdate" timestamptz NOT NULL DEFAULT now()
);
