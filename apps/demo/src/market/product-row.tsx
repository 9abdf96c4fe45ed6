/** One product in the list (one row height: name and description stay on one line each); flashes when its server version changes (another tab or user, or our own write confirmed). */
import { memo, useEffect, useRef, useState } from 'react';
import { formatPrice } from './format';
import type { Product } from './schemas';

interface Props {
  product: Product;
  categoryName: string | undefined;
  /** Local writes of this product wait for the server. */
  pending: boolean;
  /** Called with the product's id (one stable function for every row, so `memo` can skip rows). */
  onEdit: (id: string) => void;
  onDelete: (id: string) => void;
}

/** Renders again only when its props changed: the SDK keeps a document object until the document changes. */
export const ProductRow = memo(function ProductRow({ product, categoryName, pending, onEdit, onDelete }: Props) {
  const flash = useFlash(product._rev);
  return (
    <li
      className={`product-row${pending ? ' is-pending' : ''}${flash ? ' flash' : ''}`}
      data-testid="product-row"
      data-product-id={product._id}
      data-pending={pending ? 'true' : 'false'}
      data-rev={product._rev ?? 0}
    >
      <div className="product-main">
        <span className="product-name" data-testid="product-name">
          {product.name}
        </span>
        {product.description ? <span className="product-description">{product.description}</span> : null}
      </div>
      <span className="product-category">{categoryName ?? '—'}</span>
      <span className="product-price">
        <span className="currency" aria-hidden="true">
          €
        </span>
        <span data-testid="product-price">{formatPrice(product.price)}</span>
      </span>
      <span className="product-state">
        {pending ? (
          <span className="tag tag-pending" data-testid="pending-tag" title="Saved in this tab; the server has not confirmed it yet">
            pending
          </span>
        ) : (
          <span className="tag tag-rev" title="The server's version of this row">
            v{product._rev ?? 0}
          </span>
        )}
      </span>
      <span className="product-actions">
        <button type="button" data-testid="edit" onClick={() => onEdit(product._id)} aria-label={`Edit ${product.name}`}>
          Edit
        </button>
        <button
          type="button"
          className="danger"
          data-testid="delete"
          onClick={() => onDelete(product._id)}
          aria-label={`Delete ${product.name}`}
        >
          Delete
        </button>
      </span>
    </li>
  );
});

/** True for a moment after `rev` changes (not on first render). */
function useFlash(rev: number | undefined): boolean {
  const [on, setOn] = useState(false);
  const first = useRef(rev);
  useEffect(() => {
    if (rev === first.current) return;
    first.current = rev;
    setOn(true);
    const t = setTimeout(() => setOn(false), 1200);
    return () => clearTimeout(t);
  }, [rev]);
  return on;
}
