//! TLS for the tests of `security.protocol: SSL` and `SASL_SSL`: a certificate authority
//! made at test time, a server certificate it signs for 127.0.0.1, a client certificate
//! whose key is encrypted with a passphrase (`ssl.key.password`), and a TLS-terminating
//! proxy in front of the test broker (Tansu 0.6 accepts `--cert`/`--key` but serves
//! plaintext). The proxy requires the client certificate (mutual TLS), so librdkafka's
//! TLS handshake, its certificate and hostname checks, and its use of the passphrase all
//! meet a real peer (OpenSSL), and the Kafka protocol behind it a real broker.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use openssl::symm::Cipher;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

use super::broker::free_port;

/// The passphrase of the client's key.
pub const CLIENT_KEY_PASSWORD: &str = "key-pass-3e1b77d0-never-logged";

/// PEM files in a directory of their own, removed when dropped.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA certificate clients trust (`ssl.ca.location`).
    pub ca: PathBuf,
    /// The server's certificate (for 127.0.0.1 and localhost) and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The client's certificate, and its key encrypted with [`CLIENT_KEY_PASSWORD`].
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting it instead must fail the handshake.
    pub other_ca: PathBuf,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(common_name: &str) -> openssl::x509::X509Name {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    name.build()
}

/// A self-signed CA certificate.
fn ca(common_name: &str) -> (X509, PKey<Private>) {
    let key = key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name(common_name)).unwrap();
    b.set_issuer_name(&name(common_name)).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// A certificate for 127.0.0.1 and localhost signed by `ca`: a server's, or a client's.
fn leaf(ca: &X509, ca_key: &PKey<Private>, serial: u32, client: bool) -> (X509, PKey<Private>) {
    let key = key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    let subject = if client { "slipstream" } else { "127.0.0.1" };
    b.set_subject_name(&name(subject)).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()
            .unwrap(),
    )
    .unwrap();
    let usage = if client {
        ExtendedKeyUsage::new().client_auth().build()
    } else {
        ExtendedKeyUsage::new().server_auth().build()
    };
    b.append_extension(usage.unwrap()).unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .dns("localhost")
        .build(&b.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(san).unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

impl Pki {
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!("slipstream-pki-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_cert, ca_key) = ca("slipstream test CA");
        let (cert, key) = leaf(&ca_cert, &ca_key, 2, false);
        let (client_cert, client_key) = leaf(&ca_cert, &ca_key, 3, true);
        let client_key = client_key
            .private_key_to_pem_pkcs8_passphrase(
                Cipher::aes_256_cbc(),
                CLIENT_KEY_PASSWORD.as_bytes(),
            )
            .unwrap();
        let (other, _) = ca("some other CA");
        let write = |file: &str, pem: Vec<u8>| {
            let path = dir.join(file);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", ca_cert.to_pem().unwrap()),
            cert: write("server.pem", cert.to_pem().unwrap()),
            key: write("server.key", key.private_key_to_pem_pkcs8().unwrap()),
            client_cert: write("client.pem", client_cert.to_pem().unwrap()),
            client_key: write("client.key", client_key),
            other_ca: write("other-ca.pem", other.to_pem().unwrap()),
            dir,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts TLS from clients with a certificate of the [`Pki`]'s CA on a loopback port,
/// and forwards each connection's plaintext to `127.0.0.1:upstream`. Stops when dropped.
pub struct TlsProxy {
    pub port: u16,
    _rt: tokio::runtime::Runtime,
}

impl TlsProxy {
    /// With `scram` (user, password), each connection must first log in with SASL
    /// SCRAM-SHA-512 ([`super::scram::gate`]).
    pub fn start(pki: &Pki, upstream: u16, scram: Option<(&str, &str)>) -> TlsProxy {
        let scram = scram.map(|(u, p)| Arc::new((u.to_owned(), p.to_owned())));
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_certificate_chain_file(&pki.cert).unwrap();
        acceptor
            .set_private_key_file(&pki.key, SslFiletype::PEM)
            .unwrap();
        acceptor.set_ca_file(&pki.ca).unwrap();
        acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        let acceptor = Arc::new(acceptor.build());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, scram) = (acceptor.clone(), scram.clone());
                tokio::spawn(async move {
                    let ssl = Ssl::new(acceptor.context()).unwrap();
                    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                    // A client that does not trust the certificate hangs up here.
                    if Pin::new(&mut tls).accept().await.is_err() {
                        return;
                    }
                    let Ok(mut broker) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    if let Some(login) = scram.as_deref() {
                        let (user, password) = login;
                        if !super::scram::gate(&mut tls, &mut broker, user, password).await {
                            return;
                        }
                    }
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                });
            }
        });
        TlsProxy { port, _rt: rt }
    }
}
