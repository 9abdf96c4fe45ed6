/** The product list (name order), one row being edited at most. */
import { EditProductRow } from './edit-product-row';
import { ProductRow } from './product-row';
import type { Category, Product, ProductInput } from './schemas';

interface Props {
  products: readonly Product[] | null;
  categories: Category[];
  pendingIds: ReadonlySet<string>;
  editingId: string | null;
  onEdit: (id: string | null) => void;
  onSave: (id: string, input: ProductInput, original: Product) => void;
  onDelete: (id: string) => void;
}

export function ProductList({ products, categories, pendingIds, editingId, onEdit, onSave, onDelete }: Props) {
  if (products === null) return <p className="empty">Opening the local replica…</p>;
  const names = new Map(categories.map((c) => [c.id, c.name]));
  const sorted = [...products].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }) || a._id.localeCompare(b._id));
  return (
    <div className="card list-card">
      <div className="list-head" aria-hidden="true">
        <span>Product</span>
        <span>Category</span>
        <span className="num">Price</span>
        <span>State</span>
        <span />
      </div>
      {sorted.length === 0 ? <p className="empty">No products here yet. Add one above.</p> : null}
      <ul className="product-list" data-testid="product-list" aria-label="Products">
        {sorted.map((p) =>
          p._id === editingId ? (
            <EditProductRow
              key={p._id}
              product={p}
              categories={categories}
              onSave={(input, original) => onSave(p._id, input, original)}
              onCancel={() => onEdit(null)}
            />
          ) : (
            <ProductRow
              key={p._id}
              product={p}
              categoryName={p.category == null ? undefined : names.get(p.category)}
              pending={pendingIds.has(p._id)}
              onEdit={() => onEdit(p._id)}
              onDelete={() => onDelete(p._id)}
            />
          ),
        )}
      </ul>
    </div>
  );
}
