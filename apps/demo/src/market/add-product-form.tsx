/** The add-product form, checked field by field with the zod schema (unless browser checks are off). */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { CategorySelect } from './category-select';
import { FieldError } from './field-error';
import { browserChecks, type Category, type ProductInput, parseProductForm, rawProductForm } from './schemas';

interface Props {
  categories: Category[];
  /** Preselected category (the filter's, if any). */
  defaultCategory: string;
  onAdd: (input: ProductInput) => void;
}

type Errors = Partial<Record<keyof ProductInput, string>>;

export function AddProductForm({ categories, defaultCategory, onAdd }: Props) {
  const [name, setName] = useState('');
  const [price, setPrice] = useState('');
  const [category, setCategory] = useState(defaultCategory);
  const [description, setDescription] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const nameRef = useRef<HTMLInputElement>(null);
  // Follow the filter: adding while "Bakery" is shown adds to Bakery.
  useEffect(() => setCategory(defaultCategory), [defaultCategory]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const form = { name, price, description, category };
    let input: ProductInput;
    if (browserChecks.enabled) {
      const r = parseProductForm(form);
      if (!r.ok) {
        setErrors(r.errors);
        return;
      }
      input = r.value;
    } else input = rawProductForm(form);
    setErrors({});
    onAdd(input);
    setName('');
    setPrice('');
    setDescription('');
    nameRef.current?.focus();
  };

  return (
    <form className="card add-form" data-testid="add-product" onSubmit={submit} noValidate aria-label="Add a product">
      <h2>Add a product</h2>
      <div className="add-grid">
        <label className="field">
          <span>Name</span>
          <input
            ref={nameRef}
            data-testid="new-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="e.g. Blueberries"
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={errors.name ? 'new-name-error' : undefined}
          />
          <FieldError id="new-name-error" message={errors.name} />
        </label>
        <label className="field">
          <span>Price</span>
          <input
            data-testid="new-price"
            type="number"
            inputMode="decimal"
            step="0.01"
            value={price}
            onChange={(e) => setPrice(e.target.value)}
            placeholder="0.00"
            aria-invalid={errors.price ? true : undefined}
            aria-describedby={errors.price ? 'new-price-error' : undefined}
          />
          <FieldError id="new-price-error" message={errors.price} />
        </label>
        <div className="field">
          <label htmlFor="new-category">Category</label>
          <CategorySelect id="new-category" categories={categories} value={category} onChange={setCategory} testId="new-category" />
          <FieldError id="new-category-error" message={errors.category} />
        </div>
        <label className="field wide">
          <span>Description</span>
          <input
            data-testid="new-description"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            placeholder="optional"
            aria-invalid={errors.description ? true : undefined}
          />
          <FieldError id="new-description-error" message={errors.description} />
        </label>
        <button type="submit" className="primary" data-testid="new-submit">
          Add
        </button>
      </div>
    </form>
  );
}
