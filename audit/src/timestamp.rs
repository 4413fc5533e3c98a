//! RFC 3161 trusted timestamps on checkpoints (FORMAT.md §13).
//!
//! A checkpoint is timestamped as its whole note text: the request's message
//! imprint is SHA-256 of the exact note bytes, so the timestamp does not depend
//! on how the note's lines are laid out. [`request`] builds a `TimeStampReq`
//! (random 64-bit nonce, `certReq` true); [`token_of_response`] accepts a
//! `TimeStampResp` only when its status is granted and it carries a token;
//! [`verify`] checks a stored response against the note and the certificates a
//! reviewer trusts.
//!
//! Guarantees of [`verify`] (fail closed: anything it does not know is an
//! error, never a pass): the token is CMS `SignedData` with one signer over a
//! `TSTInfo`; the imprint is SHA-256 of the note; the signed attributes carry
//! the `TSTInfo` content type and its digest; the signature over them verifies
//! (ECDSA P-256/P-384, or RSA PKCS #1 v1.5 of at least 2048 bits, with
//! SHA-256/384/512) under the signer certificate; that certificate has a
//! critical extended key usage of exactly `timeStamping`, is valid at
//! `genTime`, and either is one of the trusted certificates or is issued (and
//! signed) by one of them that is a CA valid at `genTime`. `genTime` is
//! reported; the TSA's clock is what it says.

pub use cms::cert::x509::Certificate;
use cms::cert::x509::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5911, rfc5912};
use der::asn1::{Int, OctetString};
use der::{Decode as _, Encode as _, Tagged as _};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

pub mod client;
pub mod store;

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2).
pub const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// The media type of a request (RFC 3161 §3.4).
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";

/// The media type of a response.
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

/// Why a timestamp cannot be requested, stored or trusted.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// DER that does not decode as what it should be.
    #[error("{what} does not decode: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        source: der::Error,
    },
    /// Encoding a request failed.
    #[error("cannot encode the request: {0}")]
    Encode(der::Error),
    /// No randomness for the nonce.
    #[error("no randomness for the nonce: {0}")]
    Random(String),
    /// The TSA did not grant the request.
    #[error("the TSA did not grant the request (status {status}{text})")]
    NotGranted {
        /// The PKIStatus number.
        status: u8,
        /// Its status text, if any (with a leading `: `).
        text: String,
    },
    /// The response is granted but has no token.
    #[error("the TSA granted the request but sent no token")]
    NoToken,
    /// The token does not have the shape RFC 3161 requires.
    #[error("not a timestamp token: {0}")]
    Shape(String),
    /// The token timestamps something else.
    #[error("the token's message imprint is not SHA-256 of this checkpoint note")]
    Imprint,
    /// The token answers another request.
    #[error("the token's nonce is not the request's")]
    Nonce,
    /// An algorithm this verifier does not accept.
    #[error("unsupported algorithm: {0}")]
    Algorithm(String),
    /// A signature that does not verify.
    #[error("{0}: the signature does not verify")]
    Signature(&'static str),
    /// The signed attributes do not vouch for the `TSTInfo`.
    #[error("signed attributes: {0}")]
    Attributes(String),
    /// The signer certificate is not a TSA certificate.
    #[error("TSA certificate {subject}: {reason}")]
    Certificate {
        /// Its subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signer does not chain to a trusted certificate.
    #[error("TSA certificate {subject} (issuer {issuer}) is neither a trusted certificate nor issued by one")]
    Untrusted {
        /// The signer's subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// The trusted certificates file.
    #[error("trusted TSA certificates: {0}")]
    Trust(String),
}

fn decode<'a, T: der::Decode<'a>>(what: &'static str, bytes: &'a [u8]) -> Result<T, TimestampError> {
    T::from_der(bytes).map_err(|source| TimestampError::Decode { what, source })
}

fn shape(why: impl Into<String>) -> TimestampError {
    TimestampError::Shape(why.into())
}

/// A request ready to send, and what its answer must match.
#[derive(Debug, Clone)]
pub struct Request {
    /// The DER `TimeStampReq`.
    pub der: Vec<u8>,
    /// SHA-256 of the note.
    pub imprint: [u8; 32],
    /// The nonce's INTEGER content bytes.
    pub nonce: Vec<u8>,
}

/// SHA-256 of the note text.
pub fn imprint(note: &[u8]) -> [u8; 32] {
    Sha256::digest(note).into()
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: rfc5912::ID_SHA_256, parameters: None }
}

/// Build the request for a checkpoint note.
pub fn request(note: &[u8]) -> Result<Request, TimestampError> {
    let mut raw = [0u8; 8];
    getrandom::getrandom(&mut raw).map_err(|e| TimestampError::Random(e.to_string()))?;
    // A positive INTEGER: the top bit clear, no leading zero byte needed.
    raw[0] = (raw[0] & 0x7f) | 0x40;
    let nonce = Int::new(&raw).map_err(TimestampError::Encode)?;
    let imprint = imprint(note);
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(imprint.to_vec()).map_err(TimestampError::Encode)?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    let der = req.to_der().map_err(TimestampError::Encode)?;
    Ok(Request { der, imprint, nonce: nonce.as_bytes().to_vec() })
}

/// Check a `TimeStampResp`: granted (status 0 or 1) with a token.
pub fn token_of_response(resp: &[u8]) -> Result<(), TimestampError> {
    let r: TimeStampResp<'_> = decode("the TimeStampResp", resp)?;
    let status = r.status.status as u8;
    if status > 1 {
        let text = r
            .status
            .status_string
            .as_ref()
            .map(|s| s.iter().map(|t| t.as_str().to_string()).collect::<Vec<_>>().join("; "))
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        return Err(TimestampError::NotGranted { status, text });
    }
    if r.time_stamp_token.is_none() {
        return Err(TimestampError::NoToken);
    }
    Ok(())
}

/// What a token says, once verified (or, from [`inspect`], only read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `genTime`, seconds since the Unix epoch.
    pub gen_time_s: u64,
    /// `genTime` as the token has it (RFC 3339, UTC).
    pub gen_time: String,
    /// The signer certificate's subject (RFC 4514), if the token carries it.
    pub tsa_subject: Option<String>,
    /// The token's serial number (hex).
    pub serial: String,
    /// The TSA policy.
    pub policy: String,
    /// The message imprint (SHA-256 of the note), hex.
    pub imprint: String,
    /// The nonce's INTEGER bytes, if any.
    pub nonce: Option<Vec<u8>>,
}

/// A parsed token: the pieces verification needs.
struct Token {
    sd: SignedData,
    tst_der: Vec<u8>,
    tst: TstInfo,
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_token(resp: &[u8]) -> Result<Token, TimestampError> {
    let r: TimeStampResp<'_> = decode("the TimeStampResp", resp)?;
    let ci: ContentInfo = r.time_stamp_token.ok_or(TimestampError::NoToken)?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(shape(format!("content type {} is not signed-data", ci.content_type)));
    }
    let sd_der = ci.content.to_der().map_err(|source| TimestampError::Decode { what: "the token", source })?;
    let sd: SignedData = decode("the token's SignedData", &sd_der)?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(shape(format!("encapsulated content type {} is not TSTInfo", sd.encap_content_info.econtent_type)));
    }
    let econtent = sd.encap_content_info.econtent.as_ref().ok_or_else(|| shape("no encapsulated TSTInfo"))?;
    let octets: OctetString =
        econtent.decode_as().map_err(|source| TimestampError::Decode { what: "eContent", source })?;
    let tst_der = octets.as_bytes().to_vec();
    let tst: TstInfo = decode("the TSTInfo", &tst_der)?;
    Ok(Token { sd, tst_der, tst })
}

fn gen_time(tst: &TstInfo) -> (u64, String) {
    let d = tst.gen_time.to_unix_duration();
    (d.as_secs(), tst.gen_time.to_date_time().to_string())
}

fn info(t: &Token, subject: Option<String>) -> TokenInfo {
    let (gen_time_s, gen_time) = gen_time(&t.tst);
    TokenInfo {
        gen_time_s,
        gen_time,
        tsa_subject: subject,
        serial: hexs(t.tst.serial_number.as_bytes()),
        policy: t.tst.policy.to_string(),
        imprint: hexs(t.tst.message_imprint.hashed_message.as_bytes()),
        nonce: t.tst.nonce.as_ref().map(|n| n.as_bytes().to_vec()),
    }
}

/// Read a stored response without trusting it (for `audit show`): `genTime`,
/// the signer's subject if the token carries its certificate, the imprint.
pub fn inspect(resp: &[u8]) -> Result<TokenInfo, TimestampError> {
    let t = parse_token(resp)?;
    let subject = single_signer(&t.sd).ok().and_then(|si| signer_cert(&t.sd, si, &[]).ok()).map(|c| subject_of(&c));
    Ok(info(&t, subject))
}

fn subject_of(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// Load the trusted certificates (PEM, one or more).
pub fn load_trusted(pem: &[u8]) -> Result<Vec<Certificate>, TimestampError> {
    let certs = Certificate::load_pem_chain(pem).map_err(|e| TimestampError::Trust(e.to_string()))?;
    if certs.is_empty() {
        return Err(TimestampError::Trust("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

fn single_signer(sd: &SignedData) -> Result<&SignerInfo, TimestampError> {
    let mut it = sd.signer_infos.0.iter();
    match (it.next(), it.next()) {
        (Some(si), None) => Ok(si),
        _ => Err(shape(format!("{} signers, a token has exactly one", sd.signer_infos.0.len()))),
    }
}

fn ski(c: &Certificate) -> Option<Vec<u8>> {
    let exts = c.tbs_certificate.extensions.as_ref()?;
    let e = exts.iter().find(|e| e.extn_id == rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)?;
    SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok().map(|s| s.0.as_bytes().to_vec())
}

fn matches_sid(c: &Certificate, sid: &SignerIdentifier) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            c.tbs_certificate.issuer == is.issuer && c.tbs_certificate.serial_number == is.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(k) => ski(c).is_some_and(|s| s == k.0.as_bytes()),
    }
}

/// The signer's certificate: from the token, else from the trusted ones (a
/// token requested without `certReq` verifies against the TSA cert itself).
fn signer_cert(sd: &SignedData, si: &SignerInfo, trusted: &[Certificate]) -> Result<Certificate, TimestampError> {
    let in_token = sd.certificates.iter().flat_map(|s| s.0.iter()).find_map(|c| match c {
        cms::cert::CertificateChoices::Certificate(c) if matches_sid(c, &si.sid) => Some(c.clone()),
        _ => None,
    });
    in_token
        .or_else(|| trusted.iter().find(|c| matches_sid(c, &si.sid)).cloned())
        .ok_or_else(|| shape("the signer's certificate is neither in the token nor trusted"))
}

/// The digest algorithms accepted, by OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of(alg: &AlgorithmIdentifierOwned) -> Result<Hash, TimestampError> {
        // Parameters absent or NULL (RFC 5754 §2).
        if alg.parameters.as_ref().is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty()) {
            return Err(TimestampError::Algorithm(format!("digest {} with parameters", alg.oid)));
        }
        match alg.oid {
            o if o == rfc5912::ID_SHA_256 => Ok(Hash::Sha256),
            o if o == rfc5912::ID_SHA_384 => Ok(Hash::Sha384),
            o if o == rfc5912::ID_SHA_512 => Ok(Hash::Sha512),
            o => Err(TimestampError::Algorithm(format!("digest {o}"))),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// The hash a signature algorithm names: `Some` for the ECDSA and RSA
/// algorithms with a digest, `None` for bare `rsaEncryption` (CMS: the
/// SignerInfo's digest algorithm applies).
fn sig_alg(alg: &AlgorithmIdentifierOwned) -> Result<(bool, Option<Hash>), TimestampError> {
    let o = alg.oid;
    let ecdsa = [
        (rfc5912::ECDSA_WITH_SHA_256, Hash::Sha256),
        (rfc5912::ECDSA_WITH_SHA_384, Hash::Sha384),
        (rfc5912::ECDSA_WITH_SHA_512, Hash::Sha512),
    ];
    let rsa = [
        (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, Hash::Sha256),
        (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, Hash::Sha384),
        (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, Hash::Sha512),
    ];
    if let Some((_, h)) = ecdsa.iter().find(|(x, _)| *x == o) {
        return Ok((true, Some(*h)));
    }
    if let Some((_, h)) = rsa.iter().find(|(x, _)| *x == o) {
        return Ok((false, Some(*h)));
    }
    if o == rfc5912::RSA_ENCRYPTION {
        return Ok((false, None));
    }
    Err(TimestampError::Algorithm(format!("signature {o} (want ECDSA P-256/P-384 or RSA PKCS #1 v1.5)")))
}

/// Verify `sig` over a message whose digest (by `hash`) is `digest`, with
/// the key in `spki`; `ecdsa` says which family the algorithm named.
fn verify_sig(
    what: &'static str,
    spki: &spki::SubjectPublicKeyInfoOwned,
    ecdsa: bool,
    hash: Hash,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), TimestampError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let bad = || TimestampError::Signature(what);
    let key = spki.subject_public_key.as_bytes().ok_or_else(|| shape("public key is not whole bytes"))?;
    if ecdsa {
        if spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
            return Err(TimestampError::Algorithm(format!("ECDSA signature by a {} key", spki.algorithm.oid)));
        }
        let curve: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or_else(|| TimestampError::Algorithm("EC key without a named curve".into()))?;
        if curve == rfc5912::SECP_256_R_1 {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| shape("bad P-256 public key"))?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            return vk.verify_prehash(digest, &s).map_err(|_| bad());
        }
        if curve == rfc5912::SECP_384_R_1 {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| shape("bad P-384 public key"))?;
            let s = p384::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            return vk.verify_prehash(digest, &s).map_err(|_| bad());
        }
        return Err(TimestampError::Algorithm(format!("EC curve {curve} (want P-256 or P-384)")));
    }
    if spki.algorithm.oid != rfc5912::RSA_ENCRYPTION {
        return Err(TimestampError::Algorithm(format!("RSA signature by a {} key", spki.algorithm.oid)));
    }
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|e| shape(format!("bad RSA public key: {e}")))?;
    if pk.n().bits() < 2048 {
        return Err(TimestampError::Algorithm(format!("RSA key of {} bits (want at least 2048)", pk.n().bits())));
    }
    let scheme = match hash {
        Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
        Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
        Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
    };
    pk.verify(scheme, digest, sig).map_err(|_| bad())
}

/// The one value of the signed attribute `oid`.
fn attribute<'a>(si: &'a SignerInfo, oid: ObjectIdentifier, name: &str) -> Result<&'a der::Any, TimestampError> {
    let attrs =
        si.signed_attrs.as_ref().ok_or_else(|| TimestampError::Attributes("none (RFC 3161 requires them)".into()))?;
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let a = found.next().ok_or_else(|| TimestampError::Attributes(format!("no {name}")))?;
    if found.next().is_some() || a.values.len() != 1 {
        return Err(TimestampError::Attributes(format!("{name} must appear once with one value")));
    }
    a.values.iter().next().ok_or_else(|| TimestampError::Attributes(format!("{name} has no value")))
}

fn cert_problem(c: &Certificate, reason: impl Into<String>) -> TimestampError {
    TimestampError::Certificate { subject: subject_of(c), reason: reason.into() }
}

fn valid_at(c: &Certificate, t: u64) -> Result<(), TimestampError> {
    let v = &c.tbs_certificate.validity;
    let (from, to) = (v.not_before.to_unix_duration().as_secs(), v.not_after.to_unix_duration().as_secs());
    if t < from || t > to {
        return Err(cert_problem(c, format!("not valid at genTime ({from}..{to} in Unix seconds, genTime {t})")));
    }
    Ok(())
}

/// RFC 3161 §2.3: one critical extended key usage, exactly `timeStamping`.
fn tsa_usage(c: &Certificate) -> Result<(), TimestampError> {
    let exts = c.tbs_certificate.extensions.as_deref().unwrap_or_default();
    let mut eku = exts.iter().filter(|e| e.extn_id == rfc5280::ID_CE_EXT_KEY_USAGE);
    let e = eku.next().ok_or_else(|| cert_problem(c, "no extended key usage (a TSA certificate has timeStamping)"))?;
    if eku.next().is_some() {
        return Err(cert_problem(c, "two extended key usage extensions"));
    }
    if !e.critical {
        return Err(cert_problem(c, "its extended key usage is not critical"));
    }
    let u = ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).map_err(|e| cert_problem(c, e.to_string()))?;
    if u.0 != [rfc5280::ID_KP_TIME_STAMPING] {
        return Err(cert_problem(c, "its extended key usage is not exactly timeStamping"));
    }
    Ok(())
}

fn is_ca(c: &Certificate) -> bool {
    let exts = c.tbs_certificate.extensions.as_deref().unwrap_or_default();
    exts.iter()
        .find(|e| e.extn_id == rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|b| b.ca)
}

/// The signer is trusted: one of `trusted`, or issued and signed by one that
/// is a CA valid at `t`.
fn chains(signer: &Certificate, trusted: &[Certificate], t: u64) -> Result<(), TimestampError> {
    if trusted.iter().any(|c| c == signer) {
        return Ok(());
    }
    let tbs = signer
        .tbs_certificate
        .to_der()
        .map_err(|source| TimestampError::Decode { what: "the TSA certificate", source })?;
    let sig = signer.signature.as_bytes().ok_or_else(|| shape("certificate signature is not whole bytes"))?;
    for ca in trusted.iter().filter(|ca| ca.tbs_certificate.subject == signer.tbs_certificate.issuer) {
        if !is_ca(ca) {
            continue;
        }
        let (ecdsa, hash) = sig_alg(&signer.signature_algorithm)?;
        let hash =
            hash.ok_or_else(|| TimestampError::Algorithm("certificate signed with bare rsaEncryption".into()))?;
        if signer.signature_algorithm != signer.tbs_certificate.signature {
            return Err(cert_problem(signer, "its two signature algorithm fields differ"));
        }
        verify_sig(
            "the TSA certificate's issuer signature",
            &ca.tbs_certificate.subject_public_key_info,
            ecdsa,
            hash,
            &hash.digest(&tbs),
            sig,
        )?;
        valid_at(ca, t)?;
        return Ok(());
    }
    Err(TimestampError::Untrusted { subject: subject_of(signer), issuer: signer.tbs_certificate.issuer.to_string() })
}

/// Verify a stored `TimeStampResp` for `note` against the trusted
/// certificates; with `nonce`, the token must carry it (a fresh answer).
/// Without `trusted` (a writer that just got the answer) everything but the
/// chain is checked, under the certificate the token carries.
pub fn verify(
    resp: &[u8],
    note: &[u8],
    trusted: Option<&[Certificate]>,
    nonce: Option<&[u8]>,
) -> Result<TokenInfo, TimestampError> {
    token_of_response(resp)?;
    let t = parse_token(resp)?;
    // What is timestamped: SHA-256 of the exact note.
    let mi = &t.tst.message_imprint;
    if Hash::of(&mi.hash_algorithm)? != Hash::Sha256 || mi.hashed_message.as_bytes() != imprint(note) {
        return Err(TimestampError::Imprint);
    }
    if let Some(n) = nonce
        && t.tst.nonce.as_ref().map(|x| x.as_bytes()) != Some(n)
    {
        return Err(TimestampError::Nonce);
    }
    let si = single_signer(&t.sd)?;
    let hash = Hash::of(&si.digest_alg)?;
    // The signed attributes vouch for this TSTInfo.
    let ct: ObjectIdentifier = attribute(si, rfc5911::ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| TimestampError::Attributes(format!("content-type: {e}")))?;
    if ct != ID_CT_TST_INFO {
        return Err(TimestampError::Attributes(format!("content-type {ct} is not TSTInfo")));
    }
    let md: OctetString = attribute(si, rfc5911::ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| TimestampError::Attributes(format!("message-digest: {e}")))?;
    if md.as_bytes() != hash.digest(&t.tst_der) {
        return Err(TimestampError::Attributes("message-digest is not the digest of the TSTInfo".into()));
    }
    let (ecdsa, named) = sig_alg(&si.signature_algorithm)?;
    if named.is_some_and(|h| h != hash) {
        return Err(TimestampError::Algorithm("signature and digest algorithms name different hashes".into()));
    }
    let signed = si
        .signed_attrs
        .as_ref()
        .map(|a| a.to_der())
        .transpose()
        .map_err(|source| TimestampError::Decode { what: "the signed attributes", source })?
        .unwrap_or_default();
    let cert = signer_cert(&t.sd, si, trusted.unwrap_or_default())?;
    verify_sig(
        "the token",
        &cert.tbs_certificate.subject_public_key_info,
        ecdsa,
        hash,
        &hash.digest(&signed),
        si.signature.as_bytes(),
    )?;
    tsa_usage(&cert)?;
    let (at, _) = gen_time(&t.tst);
    valid_at(&cert, at)?;
    if let Some(trusted) = trusted {
        chains(&cert, trusted, at)?;
    }
    Ok(info(&t, Some(subject_of(&cert))))
}
