fn main() {
    eprintln!("pve-ontap-controller: not built yet");
    std::process::exit(1);
}
