#![deny(warnings)]
use encx::Encrypted;

#[derive(Encrypted)]
struct Customer {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, prefix(lengths(2, 3), bits = 8, normalize = "lowercase", expect(rows = 1000000, distinct = 800000, min_coincidence = 1.5, max_false_positives = 4000)))]
    surname: String,
    #[encx(encrypt, suffix(lengths(4), bits = 12, normalize = "digits", expect(rows = 1000000, distinct = 1000000)))]
    card: String,
    #[encx(encrypt, contains(ngram = 3, filter_bits = 512, hashes = 3, normalize = "lowercase", expect(rows = 1000000, distinct = 900000, chars = 12)))]
    name: String,
    #[encx(encrypt, range(width = 30))]
    born: Option<i64>,
}

fn main() {
    let _: encx::PrefixIndex<Customer> = Customer::SURNAME_PREFIX;
    let _: encx::SuffixIndex<Customer> = Customer::CARD_SUFFIX;
    let _: encx::ContainsIndex<Customer> = Customer::NAME_CONTAINS;
    let _: encx::RangeIndex<Customer, i64> = Customer::BORN_RANGE;
    assert_eq!(Customer::SURNAME_PREFIX.columns().len(), 2);
    assert_eq!(Customer::SURNAME_PREFIX.columns()[1].column, "surname_prefix3_bidx");
    assert_eq!(Customer::SURNAME_PREFIX.columns()[1].spec.domain, "9:customers,7:surname,7:prefix3,");
    let _ = CustomerRecord::clone;
}
