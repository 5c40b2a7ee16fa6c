//! Rebuilds when migrations or message catalogs change, since both are embedded.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=locales");
}
