//! The rig's own start-up. CI once lost a test because moto's port, picked free and released,
//! was taken before moto bound it: moto exited, and the test waited a minute on the listener
//! that held the port. moto now gets a port outside the kernel's ephemeral range, and is
//! started again on the next one when it cannot take its port.

use std::net::TcpListener;

use testkit::rig::{Moto, http};

#[test]
fn moto_starts_again_on_another_port_when_its_port_is_taken() {
    // The port held by a listener that accepts and never answers: what CI's test met.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").port();
    let mut first = true;
    let moto = Moto::start_on(move || {
        if std::mem::take(&mut first) {
            taken
        } else {
            free_after(taken)
        }
    });
    assert_ne!(moto.port, taken);
    let (status, _) = http("GET", moto.port, "/moto-api/", "").expect("moto answers");
    assert_eq!(status, 200);
    drop(held);
}

/// Some other free port (the kernel's pick, for this test only).
fn free_after(taken: u16) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a port");
        if port != taken {
            return port;
        }
    }
}
