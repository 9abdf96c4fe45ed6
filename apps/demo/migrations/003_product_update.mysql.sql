-- MySQL/MariaDB variant of 003_product_update.sql.
ALTER TABLE product ADD CONSTRAINT product_category_fk FOREIGN KEY (category) REFERENCES category (id) ON DELETE SET NULL;
