//! A SASL/SCRAM-SHA-512 gate for the TLS proxy (tests/common/tls.rs): it answers a
//! connection's `SaslHandshake` and `SaslAuthenticate` requests itself, verifying the
//! client's SCRAM proof against one user's password (RFC 5802, RFC 7677), forwards
//! every other request to the broker behind it, and once the login succeeded passes the
//! connection through.
//!
//! Why a gate and not the broker: Tansu 0.6 verifies SCRAM, but lets only an
//! authenticated client create SCRAM users, so a login there can only fail. The gate is
//! a stand-in for a broker's SASL layer; the TLS before it and the Kafka protocol after
//! it are the real peers'.

use openssl::base64::{decode_block, encode_block};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const MECHANISM: &str = "SCRAM-SHA-512";
const ITERATIONS: usize = 4096;

/// Logs `client` in as `user` with `password`, forwarding other requests to `broker`:
/// `true` when the login succeeded and the connection may be passed through.
pub async fn gate<C, B>(client: &mut C, broker: &mut B, user: &str, password: &str) -> bool
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut server = Server::new(user, password);
    loop {
        let Ok(request) = read_frame(client).await else {
            return false;
        };
        let key = i16::from_be_bytes([request[0], request[1]]);
        let version = i16::from_be_bytes([request[2], request[3]]);
        if key != SASL_HANDSHAKE && key != SASL_AUTHENTICATE {
            // ApiVersions and the like, before the login: the broker answers them.
            if write_frame(broker, &request).await.is_err() {
                return false;
            }
            let Ok(response) = read_frame(broker).await else {
                return false;
            };
            if write_frame(client, &response).await.is_err() {
                return false;
            }
            continue;
        }
        // Request header v1 (both are non-flexible at the versions librdkafka sends):
        // api key, version, correlation id, client id.
        let client_id = i16::from_be_bytes([request[8], request[9]]).max(0) as usize;
        let body = &request[10 + client_id..];
        let mut response = request[4..8].to_vec();
        if key == SASL_HANDSHAKE {
            let len = i16::from_be_bytes([body[0], body[1]]) as usize;
            let ok = &body[2..2 + len] == MECHANISM.as_bytes();
            let code = if ok { 0 } else { UNSUPPORTED_SASL_MECHANISM };
            response.extend_from_slice(&code.to_be_bytes());
            response.extend_from_slice(&1i32.to_be_bytes());
            response.extend_from_slice(&(MECHANISM.len() as i16).to_be_bytes());
            response.extend_from_slice(MECHANISM.as_bytes());
            if write_frame(client, &response).await.is_err() || !ok {
                return false;
            }
            continue;
        }
        let len = i32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        let step = server.step(&body[4..4 + len]);
        let (code, message, reply) = match &step {
            Ok((reply, _)) => (0, None, reply.as_bytes()),
            Err(why) => (SASL_AUTHENTICATION_FAILED, Some(why.as_str()), &b""[..]),
        };
        response.extend_from_slice(&code.to_be_bytes());
        match message {
            Some(m) => {
                response.extend_from_slice(&(m.len() as i16).to_be_bytes());
                response.extend_from_slice(m.as_bytes());
            }
            None => response.extend_from_slice(&(-1i16).to_be_bytes()),
        }
        response.extend_from_slice(&(reply.len() as i32).to_be_bytes());
        response.extend_from_slice(reply);
        if version >= 1 {
            // session_lifetime_ms: 0, no re-authentication.
            response.extend_from_slice(&0i64.to_be_bytes());
        }
        if write_frame(client, &response).await.is_err() {
            return false;
        }
        match step {
            Ok((_, true)) => return true,
            Ok((_, false)) => {}
            Err(_) => return false,
        }
    }
}

async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await?;
    let mut frame = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    s.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<S: AsyncWrite + Unpin>(s: &mut S, frame: &[u8]) -> std::io::Result<()> {
    s.write_all(&(frame.len() as i32).to_be_bytes()).await?;
    s.write_all(frame).await?;
    s.flush().await
}

/// The server side of one SCRAM-SHA-512 exchange.
struct Server {
    user: String,
    salt: [u8; 16],
    salted_password: Vec<u8>,
    /// After the first message: the client's first message (bare), and ours.
    first: Option<(String, String)>,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = PKey::hmac(key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha512(), &key).unwrap();
    signer.sign_oneshot_to_vec(data).unwrap()
}

impl Server {
    fn new(user: &str, password: &str) -> Server {
        let mut salt = [0u8; 16];
        openssl::rand::rand_bytes(&mut salt).unwrap();
        let mut salted_password = vec![0u8; 64];
        openssl::pkcs5::pbkdf2_hmac(
            password.as_bytes(),
            &salt,
            ITERATIONS,
            MessageDigest::sha512(),
            &mut salted_password,
        )
        .unwrap();
        Server {
            user: user.to_owned(),
            salt,
            salted_password,
            first: None,
        }
    }

    /// The reply to one client message, and whether the exchange is over; `Err` when
    /// the client fails.
    fn step(&mut self, message: &[u8]) -> Result<(String, bool), String> {
        let message = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_owned())?;
        let Some((client_first, server_first)) = &self.first else {
            // client-first-message: gs2 header "n,," then "n=user,r=nonce".
            let bare = message
                .strip_prefix("n,,")
                .ok_or("no channel binding expected")?;
            let attr = |name: &str| {
                bare.split(',')
                    .find_map(|a| a.strip_prefix(name))
                    .map(str::to_owned)
            };
            if attr("n=").as_deref() != Some(self.user.as_str()) {
                return Err("unknown user".into());
            }
            let client_nonce = attr("r=").ok_or("no nonce")?;
            let mut ours = [0u8; 18];
            openssl::rand::rand_bytes(&mut ours).unwrap();
            let reply = format!(
                "r={client_nonce}{},s={},i={ITERATIONS}",
                encode_block(&ours),
                encode_block(&self.salt)
            );
            self.first = Some((bare.to_owned(), reply.clone()));
            return Ok((reply, false));
        };
        // client-final-message: "c=biws,r=nonce,p=proof".
        let (without_proof, proof) = message.split_once(",p=").ok_or("no proof")?;
        let nonce = server_first.split(',').next().unwrap_or_default();
        if !without_proof.split(',').any(|a| a == nonce) {
            return Err("wrong nonce".into());
        }
        let proof = decode_block(proof).map_err(|_| "proof is not base64".to_owned())?;
        let auth_message = format!("{client_first},{server_first},{without_proof}");
        let client_key = hmac(&self.salted_password, b"Client Key");
        let stored_key = openssl::sha::sha512(&client_key);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let recovered: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if proof.len() != signature.len() || openssl::sha::sha512(&recovered) != stored_key {
            return Err("Authentication failed: wrong password".into());
        }
        let server_key = hmac(&self.salted_password, b"Server Key");
        let verifier = hmac(&server_key, auth_message.as_bytes());
        Ok((format!("v={}", encode_block(&verifier)), true))
    }
}
