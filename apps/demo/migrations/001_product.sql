-- The market example's products (../shared/reference 000: `knex migrate:make product`).
-- Ids are text (uuid) so an offline browser can create a product with its own id (crypto.randomUUID()).
CREATE TABLE product (
  id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  name text NOT NULL,
  price numeric(10, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
  description text NOT NULL DEFAULT '',
  "lastUpdate" timestamptz NOT NULL DEFAULT now(),
  category integer
);
