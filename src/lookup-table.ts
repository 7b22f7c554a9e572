// Lookup tables indexed by caller-supplied strings. A plain object literal
// inherits from Object.prototype, so "constructor" or "__proto__" would look
// like entries; a null-prototype, frozen copy holds exactly what it lists.
export function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}
