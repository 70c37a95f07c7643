fn main() {
    println!("hello from a Rust Lambda");
}
