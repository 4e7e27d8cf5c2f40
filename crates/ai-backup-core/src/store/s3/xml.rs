//! The S3 XML documents we read (list results, errors, multipart answers) and the two we write
//! (DeleteObjects, CompleteMultipartUpload). Parsed with quick-xml's serde support; unknown
//! elements and the namespace attribute are ignored, so every S3 dialect parses.

use percent_encoding::percent_decode_str;
use quick_xml::escape::escape;
use quick_xml::events::Event as XmlEvent;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorDoc {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAllMyBuckets {
    #[serde(default)]
    pub buckets: Option<Buckets>,
}

#[derive(Debug, Deserialize)]
pub struct Buckets {
    #[serde(rename = "Bucket", default)]
    pub bucket: Vec<BucketEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    pub name: String,
    #[serde(default)]
    pub creation_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBucketV2 {
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(default)]
    pub next_continuation_token: Option<String>,
    #[serde(default)]
    pub encoding_type: Option<String>,
    #[serde(default)]
    pub contents: Vec<ContentsEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContentsEntry {
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResult {
    #[serde(rename = "Error", default)]
    pub errors: Vec<DeleteError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteError {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUpload {
    pub upload_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMultipartUploads {
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(default)]
    pub next_key_marker: Option<String>,
    #[serde(default)]
    pub next_upload_id_marker: Option<String>,
    #[serde(default)]
    pub encoding_type: Option<String>,
    #[serde(rename = "Upload", default)]
    pub uploads: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
}

/// Both CompleteMultipartUploadResult and CopyObjectResult.
#[derive(Debug, Deserialize)]
pub struct EtagResult {
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
}

/// Parse a document; the error text is for a `BadResponse`.
pub fn parse<T: serde::de::DeserializeOwned>(xml: &str) -> Result<T, String> {
    quick_xml::de::from_str(xml).map_err(|e| format!("unexpected XML answer: {e}"))
}

/// The name of the document's root element (`Error` for a failure reported with 200 OK).
pub fn root_name(xml: &str) -> Option<String> {
    let mut r = quick_xml::Reader::from_str(xml);
    loop {
        match r.read_event() {
            Ok(XmlEvent::Start(e) | XmlEvent::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(XmlEvent::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A key as listed: with `encoding-type=url` the server percent-encodes it (AWS and MinIO
/// write a space as `+`, garage as `%20`; a literal `+` is always `%2B`).
pub fn decode_key(key: &str, encoding_type: Option<&str>) -> Result<String, String> {
    if encoding_type != Some("url") {
        return Ok(key.to_string());
    }
    let plus = key.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| format!("listed key is not UTF-8: {key}"))
}

/// The body of DeleteObjects in quiet mode (only failures are reported back).
pub fn delete_body(keys: &[String]) -> String {
    let mut s = String::from(
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>",
    );
    for k in keys {
        s.push_str("<Object><Key>");
        s.push_str(&escape(k.as_str()));
        s.push_str("</Key></Object>");
    }
    s.push_str("</Delete>");
    s
}

/// The body of CompleteMultipartUpload: part numbers with the ETags the parts returned.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut s =
        String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (n, etag) in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag.as_str())
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

/// An ETag without the quotes servers put around it.
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_v2() {
        let x = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>
<Contents><Key>a+b%2B%E6%8A%A5</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
<ETag>&quot;abc&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>z</Key><Size>0</Size></Contents></ListBucketResult>"#;
        let l: ListBucketV2 = parse(x).unwrap();
        assert!(l.is_truncated);
        assert_eq!(l.next_continuation_token.as_deref(), Some("tok"));
        assert_eq!(l.contents.len(), 2);
        assert_eq!(
            decode_key(&l.contents[0].key, l.encoding_type.as_deref()).unwrap(),
            "a b+报"
        );
        assert_eq!(unquote(l.contents[0].etag.as_deref().unwrap()), "abc");
        let empty: ListBucketV2 =
            parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(empty.contents.is_empty());
    }

    #[test]
    fn errors_and_roots() {
        let x = "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>gone</Message><Key>k</Key></Error>";
        assert_eq!(root_name(x).as_deref(), Some("Error"));
        let e: ErrorDoc = parse(x).unwrap();
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("NoSuchKey"), Some("gone"))
        );
        let d: DeleteResult = parse(
            "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>\
             <Message>no</Message></Error><Deleted><Key>c</Key></Deleted></DeleteResult>",
        )
        .unwrap();
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].key, "b");
        let b: ListAllMyBuckets = parse(
            "<ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets><Bucket><Name>a</Name>\
             <CreationDate>2024</CreationDate></Bucket><Bucket><Name>b</Name></Bucket></Buckets>\
             </ListAllMyBucketsResult>",
        )
        .unwrap();
        assert_eq!(b.buckets.unwrap().bucket.len(), 2);
    }

    #[test]
    fn bodies() {
        assert!(delete_body(&["a&b<c".into()]).contains("<Key>a&amp;b&lt;c</Key>"));
        assert!(complete_body(&[(1, "\"e\"".into())])
            .contains("<PartNumber>1</PartNumber><ETag>&quot;e&quot;</ETag>"));
    }
}
