//! openapi.yaml as a checker: finds the operation and response an answer is
//! for, and validates its status, required headers, JSON body and (for the
//! callback's redirects) the redirect's query against the document's schemas
//! (JSON Schema 2020-12, which OpenAPI 3.1 uses).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let doc: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// Every (METHOD, path template) the document describes.
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    /// The security schemes an operation declares (none for an open route).
    pub fn security(&self, method: &str, path: &str) -> BTreeSet<String> {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        let declared = op.get("security").unwrap_or(&self.doc["security"]);
        declared
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .collect()
    }

    fn template_for(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').collect();
        self.doc["paths"].as_object()?.keys().find_map(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            (ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty())))
            .then(|| t.clone())
        })
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => self.doc.pointer(r.trim_start_matches('#')).unwrap(),
            None => v,
        }
    }

    /// `instance` against `schema` (which may `$ref` the document's components).
    fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let root = json!({ "allOf": [schema], "components": self.doc["components"] });
        let validator = jsonschema::draft202012::new(&root).map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Checks an answer to `method path` against the document.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &link_shared::lambda_http::http::HeaderMap,
        body: &str,
    ) -> Result<(), String> {
        let t = self
            .template_for(path)
            .ok_or_else(|| format!("{path} is not in openapi.yaml"))?;
        let op = &self.doc["paths"][&t][method.to_lowercase()];
        if op.is_null() {
            return Err(format!("{method} {t} is not in openapi.yaml"));
        }
        let resp = op["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r))
            .ok_or_else(|| format!("{method} {t} does not document {status}"))?;
        if let Some(hs) = resp["headers"].as_object() {
            for (name, h) in hs {
                let h = self.resolve(h);
                let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                match value {
                    None if h["required"] == true => {
                        return Err(format!("{method} {t} {status}: no {name} header"))
                    }
                    None => {}
                    Some(v) => {
                        let v = v
                            .parse::<i64>()
                            .ok()
                            .filter(|_| h["schema"]["type"] == "integer")
                            .map_or_else(|| json!(v), |n| json!(n));
                        self.validate(&h["schema"], &v)
                            .map_err(|e| format!("{method} {t} {status} {name}: {e}"))?;
                    }
                }
            }
        }
        match resp["content"]["application/json"]["schema"] {
            Value::Null => {
                if !body.trim().is_empty() {
                    return Err(format!(
                        "{method} {t} {status}: a body where none is documented: {body}"
                    ));
                }
            }
            ref schema => {
                let v: Value = serde_json::from_str(body)
                    .map_err(|e| format!("{method} {t} {status}: not JSON ({e}): {body}"))?;
                self.validate(schema, &v)
                    .map_err(|e| format!("{method} {t} {status}: {e}: {body}"))?;
            }
        }
        if let Some(schema) = resp.get("x-redirect-query") {
            let location = headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or("no location")?;
            let url = url::Url::parse(location).map_err(|e| e.to_string())?;
            let query: serde_json::Map<String, Value> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), json!(v)))
                .collect();
            self.validate(schema, &Value::Object(query))
                .map_err(|e| format!("{method} {t} {status} redirect {location}: {e}"))?;
        }
        Ok(())
    }
}
