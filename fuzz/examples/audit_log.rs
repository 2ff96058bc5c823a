//! Prints the audit log that an `audit_verify` input builds (its structured half), and what
//! `verify` says about it: `cargo run --example audit_log artifacts/audit_verify/crash-...`
#![forbid(unsafe_code)]
fn main() {
    let path = std::env::args().nth(1).expect("usage: audit_log FILE");
    let data = std::fs::read(path).expect("read the input");
    match proctor_fuzz::AuditChain::build(&data) {
        None => println!("(no log: the input does not make one)"),
        Some(c) => {
            println!(
                "seqs {:?}, flip byte {} ^ {:#04x}",
                c.seqs,
                c.log.flip_at % c.text.len(),
                c.log.flip_mask
            );
            print!("{}", c.text);
            println!("verify: {:?}", proctor_api::audit::verify(&c.text));
        }
    }
}
