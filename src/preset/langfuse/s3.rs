//! The event bucket as the Langfuse v4.16.0 worker uses it
//! (`worker/src/env.ts`, `packages/shared/src/server/s3/index.ts`): the
//! worker does not start without `LANGFUSE_S3_EVENT_UPLOAD_BUCKET`, and
//! ingestion jobs fail for good when the bucket cannot be written. Static
//! keys apply only when both are set; otherwise the AWS SDK's default chain
//! (the standard `AWS_*` variables, web identity, instance roles) does.
//! With `LANGFUSE_USE_AZURE_BLOB`, `LANGFUSE_USE_GOOGLE_CLOUD_STORAGE` or
//! `LANGFUSE_USE_OCI_NATIVE_OBJECT_STORAGE` true
//! (`packages/shared/src/env.ts`), S3 is not used and not checked.

use super::urls::encode;
use super::{flag, Found, LangfuseEnv};
use crate::probe::s3::{Credentials, Extra};

/// The S3 target URL and its settings; `None` when another store is used.
pub(super) fn event_bucket(
    lf: &LangfuseEnv,
    found: &mut Found,
) -> Result<Option<(String, Extra)>, String> {
    let azure = flag("LANGFUSE_USE_AZURE_BLOB", &lf.langfuse_use_azure_blob)?;
    let gcs = flag(
        "LANGFUSE_USE_GOOGLE_CLOUD_STORAGE",
        &lf.langfuse_use_google_cloud_storage,
    )?;
    let oci = flag(
        "LANGFUSE_USE_OCI_NATIVE_OBJECT_STORAGE",
        &lf.langfuse_use_oci_native_object_storage,
    )?;
    let path_style = flag(
        "LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE",
        &lf.langfuse_s3_event_upload_force_path_style,
    )?;
    let Some(bucket) = &lf.langfuse_s3_event_upload_bucket else {
        found.missing.push("LANGFUSE_S3_EVENT_UPLOAD_BUCKET");
        return Ok(None);
    };
    if azure || gcs || oci {
        let store = match (azure, gcs) {
            (true, _) => "LANGFUSE_USE_AZURE_BLOB",
            (_, true) => "LANGFUSE_USE_GOOGLE_CLOUD_STORAGE",
            _ => "LANGFUSE_USE_OCI_NATIVE_OBJECT_STORAGE",
        };
        found.warnings.push(format!(
            "{store}=true: the event store is not S3, and the gate does not check it"
        ));
        return Ok(None);
    }
    found
        .secrets
        .extend(lf.langfuse_s3_event_upload_secret_access_key.clone());
    let credentials = match (
        &lf.langfuse_s3_event_upload_access_key_id,
        &lf.langfuse_s3_event_upload_secret_access_key,
    ) {
        (Some(access_key), Some(secret_key)) => Some((
            Credentials {
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                session_token: None,
            },
            "LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID",
        )),
        _ => None,
    };
    // Pasted into a URL: anything but a bucket name would change its meaning.
    if !crate::probe::s3::is_bucket_name(bucket) {
        return Err(format!(
            "--preset langfuse-worker: LANGFUSE_S3_EVENT_UPLOAD_BUCKET is {:?}; a bucket name is 3 to 63 lower-case letters, digits, dots and hyphens (a prefix goes in LANGFUSE_S3_EVENT_UPLOAD_PREFIX)",
            crate::text::shorten(bucket)
        ));
    }
    if lf.langfuse_s3_event_upload_region.is_none() && lf.aws_region.is_none() {
        found.warnings.push("neither LANGFUSE_S3_EVENT_UPLOAD_REGION nor AWS_REGION is set: the AWS SDK in the worker then stops every upload with \"Region is missing\" (the gate signs for us-east-1); set one, e.g. auto for MinIO or SeaweedFS".into());
    }
    let prefix = lf
        .langfuse_s3_event_upload_prefix
        .as_deref()
        .unwrap_or_default();
    let prefix: Vec<String> = prefix.split('/').map(encode).collect();
    let url = format!("s3://{bucket}/{}", prefix.join("/"));
    Ok(Some((
        url,
        Extra {
            endpoint: lf
                .langfuse_s3_event_upload_endpoint
                .clone()
                .map(|e| (e, "LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT")),
            region: lf
                .langfuse_s3_event_upload_region
                .clone()
                .map(|r| (r, "LANGFUSE_S3_EVENT_UPLOAD_REGION")),
            path_style: Some(path_style),
            credentials,
            standard_credentials: true,
        },
    )))
}
