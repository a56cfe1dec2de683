fn main() {
    print!("{}", crm_openapi::json());
}
