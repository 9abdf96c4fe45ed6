/**
 * The market demo's data: 8 categories (ids 1..8) and N products (N = 60, or
 * `syncline seed --count N`, or SEED_PRODUCTS), always the same for the same N:
 * ids `00000000-0000-4000-8000-<12 digits>`, names, prices and descriptions
 * derived from the product's number. Fills only when `product` is empty,
 * unless `--reset` (then both tables are emptied first). Plain SQL, so table
 * capture delivers the rows to subscribers like any other program's writes.
 *
 * @param {import('@syncline/server').SeedContext} ctx
 */
export default async function seedMarket(ctx) {
  const mysql = ctx.dialect === 'mysql';
  const count = ctx.count ?? (Number(process.env.SEED_PRODUCTS) || 60);
  if (ctx.reset) {
    await ctx.query('DELETE FROM product');
    await ctx.query('DELETE FROM category');
  } else {
    const { rows } = await ctx.query('SELECT count(*) AS n FROM product');
    const n = Number(rows[0]?.n ?? 0);
    if (n > 0) {
      ctx.log(`product has ${n} rows: left as they are (syncline seed --reset replaces them)`);
      return;
    }
  }

  const ids = CATEGORIES.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
  const params = CATEGORIES.flatMap((name, i) => [i + 1, name]);
  await ctx.query(
    mysql ? `INSERT IGNORE INTO category (id, name) VALUES ${ids}` : `INSERT INTO category (id, name) VALUES ${ids} ON CONFLICT DO NOTHING`,
    params,
  );
  // Explicit ids leave the serial behind; new categories continue after them.
  if (!mysql) await ctx.query("SELECT setval(pg_get_serial_sequence('category', 'id'), (SELECT max(id) FROM category))");

  const bar = ctx.progress(count);
  for (let start = 0; start < count; start += BATCH) {
    const rows = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) rows.push(product(i));
    const values = rows.map((_, r) => `(${[1, 2, 3, 4, 5].map((c) => `$${r * 5 + c}`).join(', ')})`).join(', ');
    await ctx.query(
      `INSERT INTO product (id, name, price, description, category) VALUES ${values}`,
      rows.flatMap((p) => [p.id, p.name, p.price, p.description, p.category]),
    );
    bar.tick(rows.length);
  }
  bar.done();
  ctx.log(`seeded ${CATEGORIES.length} categories and ${count} products`);
}

/** Products per INSERT: one statement (one captured change) per batch. */
const BATCH = 500;

const CATEGORIES = ['Fruit & vegetables', 'Bakery', 'Dairy & eggs', 'Pantry', 'Drinks', 'Household', 'Garden', 'Electronics'];

const ITEMS = [
  ['Apples', 'Bananas', 'Carrots', 'Tomatoes', 'Avocados', 'Spinach', 'Lemons', 'Potatoes'],
  ['Sourdough loaf', 'Croissants', 'Rye bread', 'Bagels', 'Baguette', 'Muffins', 'Pretzels', 'Focaccia'],
  ['Whole milk', 'Greek yoghurt', 'Cheddar', 'Free-range eggs', 'Butter', 'Mozzarella', 'Kefir', 'Cream'],
  ['Olive oil', 'Basmati rice', 'Spaghetti', 'Chickpeas', 'Honey', 'Oat flakes', 'Coffee beans', 'Sea salt'],
  ['Orange juice', 'Sparkling water', 'Green tea', 'Lemonade', 'Cold brew', 'Apple cider', 'Ginger beer', 'Cocoa'],
  ['Dish soap', 'Paper towels', 'Laundry pods', 'Sponges', 'Candles', 'Bin bags', 'Glass cleaner', 'Hand soap'],
  ['Tulip bulbs', 'Potting soil', 'Watering can', 'Pruning shears', 'Herb seeds', 'Garden gloves', 'Bird feeder', 'Plant pot'],
  ['USB-C cable', 'Headphones', 'Power bank', 'Desk lamp', 'Keyboard', 'Webcam', 'Smart plug', 'Batteries'],
];
const ADJECTIVES = ['Organic', 'Fresh', 'Classic', 'Local', 'Premium', 'Everyday', 'Family-size', 'Eco'];
const WORDS = ['Picked for flavour', 'A market favourite', 'Great value', 'Locally sourced', 'Small batch', 'Long lasting'];

/** Deterministic 0 <= x < 1 from an integer (a hash, not a random generator: product i is always the same). */
function unit(i, salt) {
  let h = (i + 1) * 2654435761 + salt * 40503;
  h = Math.imul(h ^ (h >>> 15), 2246822507);
  h = Math.imul(h ^ (h >>> 13), 3266489909);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Product number `i` (0-based). */
export function product(i) {
  const c = i % CATEGORIES.length;
  const k = Math.floor(i / CATEGORIES.length);
  const items = ITEMS[c];
  const item = items[k % items.length];
  // The plain item first, then its variants: "Apples", "Apples, organic", ..., "Apples, fresh #2".
  const variant = Math.floor(k / items.length);
  const adjective = ADJECTIVES[(variant - 1) % ADJECTIVES.length];
  const round = Math.floor((variant - 1) / ADJECTIVES.length);
  const name = variant === 0 ? item : `${item}, ${adjective.toLowerCase()}${round > 0 ? ` #${round + 1}` : ''}`;
  const base = [2, 3, 4, 5, 3, 4, 12, 25][c];
  const price = (base * (0.5 + 2 * unit(i, 1))).toFixed(2);
  const description = `${WORDS[Math.floor(unit(i, 2) * WORDS.length)]}. ${item} from our ${CATEGORIES[c].toLowerCase()} aisle.`;
  return { id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`, name, price, description, category: c + 1 };
}
