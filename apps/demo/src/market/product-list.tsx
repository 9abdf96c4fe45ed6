/**
 * The product list, windowed: only the rows in view plus a few above and
 * below are in the DOM, so 20,000 products cost what 40 do. Rows have one
 * fixed height (measured from a rendered row, so the narrow layout works too);
 * the row being edited is taller and its extra height is measured as well.
 * Short lists (up to WHOLE_LIST_MAX rows) render whole: nothing to save there,
 * and the browser's find-in-page sees every product.
 */
import { useCallback, useLayoutEffect, useRef, useState } from 'react';
import { EditProductRow } from './edit-product-row';
import { ProductRow } from './product-row';
import type { Category, Product, ProductInput } from './schemas';

export const WHOLE_LIST_MAX = 100;
/** Rows rendered beyond each edge of the visible area (smooth scrolling without blank rows). */
const OVERSCAN = 10;
/** Until a row was measured (the desktop row height). */
const ROW_ESTIMATE = 62;

interface Props {
  products: readonly Product[] | null;
  categories: Category[];
  categoryNames: ReadonlyMap<number, string>;
  pendingIds: ReadonlySet<string>;
  editingId: string | null;
  onEdit: (id: string | null) => void;
  onSave: (id: string, input: ProductInput, original: Product) => void;
  onDelete: (id: string) => void;
}

export function ProductList({ products, categories, categoryNames, pendingIds, editingId, onEdit, onSave, onDelete }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  const [rowHeight, setRowHeight] = useState(ROW_ESTIMATE);
  const [editExtra, setEditExtra] = useState(0);
  const cancel = useCallback(() => onEdit(null), [onEdit]);

  const n = products?.length ?? 0;
  const virtual = n > WHOLE_LIST_MAX;
  const editIndex = editingId === null || !products ? -1 : products.findIndex((p) => p._id === editingId);
  const extra = editIndex >= 0 ? editExtra : 0;

  // Which rows: the visible ones (scrollTop .. scrollTop + viewport) and OVERSCAN on each side.
  let start = 0;
  let end = n;
  if (virtual) {
    const editTop = editIndex * rowHeight;
    const below = (px: number) => (editIndex >= 0 && px > editTop + rowHeight + extra ? px - extra : px);
    start = Math.max(0, Math.floor(below(scrollTop) / rowHeight) - OVERSCAN);
    end = Math.min(n, Math.ceil(below(scrollTop + viewport) / rowHeight) + OVERSCAN);
  }
  const padTop = start * rowHeight + (editIndex >= 0 && editIndex < start ? extra : 0);
  const padBottom = (n - end) * rowHeight + (editIndex >= end ? extra : 0);

  // Measure after each render: the viewport, a plain row, and the edited row's extra height.
  useLayoutEffect(() => {
    if (!virtual) return;
    const el = scroller.current;
    if (el && el.clientHeight > 0 && el.clientHeight !== viewport) setViewport(el.clientHeight);
    const plain = list.current?.querySelector<HTMLElement>('[data-testid="product-row"]:not([data-editing])');
    if (plain && plain.offsetHeight > 0 && plain.offsetHeight !== rowHeight) setRowHeight(plain.offsetHeight);
    const editing = list.current?.querySelector<HTMLElement>('[data-editing="true"]');
    const e = editing ? Math.max(0, editing.offsetHeight - rowHeight) : 0;
    if (editing && e !== editExtra) setEditExtra(e);
  });
  useLayoutEffect(() => {
    if (!virtual) return;
    const onResize = () => setViewport(scroller.current?.clientHeight ?? 800);
    window.addEventListener('resize', onResize);
    return () => window.removeEventListener('resize', onResize);
  }, [virtual]);

  if (products === null) return <p className="empty">Opening the local replica…</p>;
  const rows = products.slice(start, end);
  return (
    <div className="card list-card">
      <div className="list-head" aria-hidden="true">
        <span>Product</span>
        <span>Category</span>
        <span className="num">Price</span>
        <span>State</span>
        <span />
      </div>
      {n === 0 ? <p className="empty">No products here yet. Add one above.</p> : null}
      <div
        className={virtual ? 'list-scroll' : undefined}
        ref={scroller}
        onScroll={virtual ? (e) => setScrollTop(e.currentTarget.scrollTop) : undefined}
        data-testid="product-scroll"
      >
        <ul
          className={`product-list${virtual ? ' virtual' : ''}`}
          ref={list}
          data-testid="product-list"
          data-total={n}
          aria-label="Products"
          style={virtual ? { paddingTop: padTop, paddingBottom: padBottom } : undefined}
        >
          {rows.map((p) =>
            p._id === editingId ? (
              <EditProductRow key={p._id} product={p} categories={categories} onSave={onSave} onCancel={cancel} />
            ) : (
              <ProductRow
                key={p._id}
                product={p}
                categoryName={p.category == null ? undefined : categoryNames.get(p.category)}
                pending={pendingIds.has(p._id)}
                onEdit={onEdit}
                onDelete={onDelete}
              />
            ),
          )}
        </ul>
      </div>
    </div>
  );
}
