-- `knex migrate:make product_update`: a product refers to its category; deleting a category leaves its products uncategorized.
ALTER TABLE product ADD CONSTRAINT product_category_fk FOREIGN KEY (category) REFERENCES category (id) ON DELETE SET NULL;
