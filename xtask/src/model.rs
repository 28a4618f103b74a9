//! botocore's `service-2.json`, as far as codegen reads it, and how to obtain it: from a
//! `--models` directory, or from botocore installed by pip into `.codegen/venv`.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The botocore release the committed code is generated from.
pub const BOTOCORE_VERSION: &str = "1.44.5";

#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: Metadata,
    pub operations: BTreeMap<String, RawOperation>,
    pub shapes: BTreeMap<String, RawShape>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub protocol: String,
    pub endpoint_prefix: String,
    pub signing_name: Option<String>,
    pub target_prefix: Option<String>,
    pub json_version: Option<String>,
    /// A string, or `{"uri": ...}`.
    pub xml_namespace: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawOperation {
    pub http: Http,
    pub input: Option<ShapeRef>,
    pub output: Option<OutputRef>,
    #[serde(default)]
    pub errors: Vec<ShapeRef>,
    pub authtype: Option<String>,
    #[serde(default)]
    pub unsigned_payload: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    pub method: String,
    pub request_uri: String,
    pub response_code: Option<u16>,
}

#[derive(Debug, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRef {
    pub shape: String,
    pub result_wrapper: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawShape {
    #[serde(rename = "type")]
    pub kind: String,
    /// Structures: members in model order.
    #[serde(default)]
    pub members: Ordered<RawMember>,
    #[serde(default)]
    pub required: Vec<String>,
    pub payload: Option<String>,
    pub error: Option<RawErrorInfo>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub fault: bool,
    /// Lists.
    pub member: Option<RawMember>,
    /// Maps.
    pub key: Option<RawMember>,
    pub value: Option<RawMember>,
    #[serde(default)]
    pub flattened: bool,
    /// Strings.
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub min: Option<serde_json::Number>,
    pub max: Option<serde_json::Number>,
    pub pattern: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub streaming: bool,
    pub timestamp_format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMember {
    pub shape: String,
    pub location: Option<String>,
    pub location_name: Option<String>,
    pub query_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub idempotency_token: bool,
    #[serde(default)]
    pub xml_attribute: bool,
    #[serde(default)]
    pub jsonvalue: bool,
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawErrorInfo {
    pub code: Option<String>,
    pub http_status_code: Option<u16>,
    pub sender_fault: Option<bool>,
}

/// A JSON object read in document order (members are emitted in model order, and serde_json's
/// own map would sort them).
#[derive(Debug)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V2(std::marker::PhantomData))
    }
}

/// Where the models come from.
pub enum Source {
    /// A directory holding `<name>.json` (docs/README.md, "Service models") or
    /// `<name>/<api-version>/service-2.json[.gz]` (botocore's layout).
    Dir(PathBuf),
    /// botocore's data directory inside the venv, and the venv's python (for `.gz`).
    Botocore { data: PathBuf, python: PathBuf },
}

impl Source {
    /// botocore's data directory. The python of `$KMSNAP_CODEGEN_PYTHON` is used when it has
    /// botocore at [`BOTOCORE_VERSION`] (the test script points it at the e2e venv, which pins
    /// the same release); otherwise botocore is pip-installed into `<root>/.codegen/venv`.
    pub fn botocore(root: &Path) -> Result<Source, String> {
        if let Some(python) = std::env::var_os("KMSNAP_CODEGEN_PYTHON").map(PathBuf::from) {
            match botocore_version(&python) {
                Ok(v) if v == BOTOCORE_VERSION => return Source::from_python(python),
                Ok(v) => eprintln!(
                    "codegen: {} has botocore {v}, not {BOTOCORE_VERSION}; using .codegen/venv",
                    python.display()
                ),
                Err(e) => {
                    eprintln!("codegen: KMSNAP_CODEGEN_PYTHON unusable ({e}); using .codegen/venv")
                }
            }
        }
        let venv = root.join(".codegen/venv");
        let python = venv.join("bin/python");
        if !python.exists() {
            eprintln!("codegen: creating {}", venv.display());
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        if botocore_version(&python).ok().as_deref() != Some(BOTOCORE_VERSION) {
            eprintln!("codegen: pip install botocore=={BOTOCORE_VERSION}");
            run(Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .arg(format!("botocore=={BOTOCORE_VERSION}")))?;
        }
        Source::from_python(python)
    }

    fn from_python(python: PathBuf) -> Result<Source, String> {
        let dir = output(Command::new(&python).args([
            "-c",
            "import botocore, os; print(os.path.dirname(botocore.__file__))",
        ]))?;
        Ok(Source::Botocore {
            data: PathBuf::from(dir.trim()).join("data"),
            python,
        })
    }

    /// The parsed model of `name` at `api_version`.
    pub fn load(&self, name: &str, api_version: &str) -> Result<Model, String> {
        let (candidates, python): (Vec<PathBuf>, PathBuf) = match self {
            Source::Dir(d) => (
                vec![
                    d.join(format!("{name}.json")),
                    d.join(format!("{name}.json.gz")),
                    d.join(name).join(api_version).join("service-2.json"),
                    d.join(name).join(api_version).join("service-2.json.gz"),
                ],
                PathBuf::from("python3"),
            ),
            Source::Botocore { data, python } => {
                let base = data.join(name).join(api_version);
                (
                    vec![base.join("service-2.json"), base.join("service-2.json.gz")],
                    python.clone(),
                )
            }
        };
        let path = candidates.iter().find(|p| p.exists()).ok_or_else(|| {
            format!("no model for {name}/{api_version}; looked for {candidates:?}")
        })?;
        let text = if path.extension().is_some_and(|e| e == "gz") {
            // No gzip crate needed: the venv's python is there anyway.
            output(
                Command::new(&python)
                    .args([
                        "-c",
                        "import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
                    ])
                    .arg(path),
            )?
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn botocore_version(python: &Path) -> Result<String, String> {
    output(Command::new(python).args(["-c", "import botocore; print(botocore.__version__)"]))
        .map(|v| v.trim().to_owned())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{cmd:?}: output is not UTF-8: {e}"))
}
