//! Rebuild when the page's assets change: they are embedded into the binary.
fn main() {
    println!("cargo:rerun-if-changed=assets");
}
