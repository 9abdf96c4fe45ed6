/** A product being edited in place; Escape cancels. */
import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { CategorySelect } from './category-select';
import { FieldError } from './field-error';
import { formatPrice } from './format';
import { browserChecks, type Category, type Product, type ProductInput, parseProductForm, rawProductForm } from './schemas';

interface Props {
  product: Product;
  categories: Category[];
  /** `original`: the product as it was when editing began (only fields changed since then are written). */
  onSave: (id: string, input: ProductInput, original: Product) => void;
  onCancel: () => void;
}

export function EditProductRow({ product, categories, onSave, onCancel }: Props) {
  const [original] = useState(product);
  const nameRef = useRef<HTMLInputElement>(null);
  // The user just asked to edit this row: put the cursor in it.
  useEffect(() => nameRef.current?.focus(), []);
  const [name, setName] = useState(product.name);
  const [price, setPrice] = useState(formatPrice(product.price));
  const [category, setCategory] = useState(product.category == null ? '' : String(product.category));
  const [description, setDescription] = useState(product.description ?? '');
  const [errors, setErrors] = useState<Partial<Record<keyof ProductInput, string>>>({});

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const form = { name, price, description, category };
    if (!browserChecks.enabled) return onSave(product._id, rawProductForm(form), original);
    const r = parseProductForm(form);
    if (!r.ok) return setErrors(r.errors);
    onSave(product._id, r.value, original);
  };
  const cancelOnEscape = (e: KeyboardEvent) => {
    if (e.key === 'Escape') onCancel();
  };

  return (
    <li className="product-row editing" data-testid="product-row" data-product-id={product._id} data-editing="true">
      <form className="edit-form" onSubmit={submit} onKeyDown={cancelOnEscape} noValidate aria-label={`Edit ${product.name}`}>
        <label className="field">
          <span>Name</span>
          <input
            data-testid="edit-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            ref={nameRef}
            aria-invalid={errors.name ? true : undefined}
          />
          <FieldError id="edit-name-error" message={errors.name} />
        </label>
        <label className="field">
          <span>Price</span>
          <input
            data-testid="edit-price"
            type="number"
            inputMode="decimal"
            step="0.01"
            value={price}
            onChange={(e) => setPrice(e.target.value)}
            aria-invalid={errors.price ? true : undefined}
          />
          <FieldError id="edit-price-error" message={errors.price} />
        </label>
        <div className="field">
          <label htmlFor={`edit-category-${product._id}`}>Category</label>
          <CategorySelect
            id={`edit-category-${product._id}`}
            categories={categories}
            value={category}
            onChange={setCategory}
            testId="edit-category"
          />
        </div>
        <label className="field wide">
          <span>Description</span>
          <input data-testid="edit-description" value={description} onChange={(e) => setDescription(e.target.value)} />
          <FieldError id="edit-description-error" message={errors.description} />
        </label>
        <span className="edit-actions">
          <button type="submit" className="primary" data-testid="edit-save">
            Save
          </button>
          <button type="button" data-testid="edit-cancel" onClick={onCancel}>
            Cancel
          </button>
        </span>
      </form>
    </li>
  );
}
