//! AWS Signature Version 4 for S3, header-signed. Small and self-contained so that any S3 API
//! (MinIO, garage, RustFS, AWS) accepts our requests without pulling in an SDK; the secret key
//! only ever enters the HMAC here and is never formatted anywhere.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `x-amz-content-sha256` for bodies we stream without hashing them first.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Percent-encode per SigV4: everything but `A-Z a-z 0-9 - . _ ~` (and `/` when `keep_slash`),
/// as upper-case `%XX` of the UTF-8 bytes.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: pairs encoded, then sorted by name and value.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The key pair a request is signed with. Debug never shows the secret.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer({}, <redacted>, {})",
            self.access_key, self.region
        )
    }
}

/// What to sign: the already-encoded path and query, and the headers to sign (names in any
/// case; `host`, `x-amz-date` and `x-amz-content-sha256` must be among them).
pub struct ToSign<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
    /// `YYYYMMDDTHHMMSSZ`
    pub amz_date: &'a str,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn trim_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        Self {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
        }
    }

    /// The secret, for the client to scrub it out of any text that reaches an error.
    pub(super) fn secret(&self) -> &str {
        &self.secret_key
    }

    /// The `Authorization` header value for a request.
    pub fn authorization(&self, r: &ToSign<'_>) -> String {
        let mut headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), trim_value(v)))
            .collect();
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            r.method, r.path, r.query, canonical_headers, signed_headers, r.payload_sha256
        );
        let date = &r.amz_date[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
            r.amz_date,
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let k_date = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let k_signing = hmac(&k_service, b"aws4_request");
        let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// The GET Object example of the AWS S3 SigV4 documentation.
    #[test]
    fn aws_get_object_example() {
        let s = Signer::new(AK, SK, "us-east-1");
        let auth = s.authorization(&ToSign {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &[
                h("Host", "examplebucket.s3.amazonaws.com"),
                h("Range", "bytes=0-9"),
                h("x-amz-content-sha256", EMPTY_SHA256),
                h("x-amz-date", "20130524T000000Z"),
            ],
            payload_sha256: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
        });
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(!format!("{s:?}").contains(SK));
    }

    /// The GET Bucket (list objects) example of the same documentation.
    #[test]
    fn aws_list_objects_example() {
        let s = Signer::new(AK, SK, "us-east-1");
        let query = canonical_query(&[
            ("prefix".into(), "J".into()),
            ("max-keys".into(), "2".into()),
        ]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let auth = s.authorization(&ToSign {
            method: "GET",
            path: "/",
            query: &query,
            headers: &[
                h("host", "examplebucket.s3.amazonaws.com"),
                h("x-amz-content-sha256", EMPTY_SHA256),
                h("x-amz-date", "20130524T000000Z"),
            ],
            payload_sha256: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
        });
        assert!(auth.ends_with(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ));
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("报", true), "%E6%8A%A5");
        assert_eq!(uri_encode("(1)+=&", true), "%281%29%2B%3D%26");
        assert_eq!(
            canonical_query(&[
                ("uploads".into(), String::new()),
                ("b".into(), "x y".into())
            ]),
            "b=x%20y&uploads="
        );
    }
}
