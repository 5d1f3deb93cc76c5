// gen-schema.js derives the Terraform schema of the AWS resources and data sources it is asked
// for from @cdktf/provider-aws, which is generated from the hashicorp/aws provider schema:
//
//   node gen-schema.js <provider-aws package dir> resource:aws_iam_role data:aws_region ...
//
// and prints JSON: {provider, version, package, resources: {type: block}, data_sources: {...}},
// where a block is {attributes: {name: {type, required, computed_only}}, blocks: {name:
// {nesting, min_items, max_items, block}}}. Sources, all inside the package:
//   - .jsii: each <Resource>Config interface and each nested struct: the properties, whether
//     they are optional, their types; the HCL name is the anchor of the property's registry
//     link (".../docs/resources/lambda_function#function_name");
//   - lib/<resource>/index.js: synthesizeHclAttributes() of the resource and
//     <struct>ToHclTerraform() of each nested struct say which HCL names are blocks (isBlock) and
//     whether a collection is a list, a set or a map; the class's "// <name> - computed: true,
//     optional: false, required: false" comments list the read-only attributes.
'use strict';

const fs = require('fs');
const path = require('path');

const [pkgDir, ...wanted] = process.argv.slice(2);
if (!pkgDir || wanted.length === 0) {
  console.error('usage: node gen-schema.js <@cdktf/provider-aws dir> resource:<type>|data:<type> ...');
  process.exit(2);
}
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const jsii = JSON.parse(fs.readFileSync(path.join(pkgDir, '.jsii'), 'utf8'));
const types = jsii.types;

// Index every resource and data source class by its Terraform type name, read from the class
// summary "Represents a {@link https://registry.terraform.io/providers/hashicorp/aws/<v>/docs/<kind>/<x> aws_<x>}".
const classes = { resource: {}, data: {} };
let providerVersion = '';
for (const t of Object.values(types)) {
  if (t.kind !== 'class' || !t.docs || !t.docs.summary) continue;
  const m = /registry\.terraform\.io\/providers\/hashicorp\/aws\/([0-9.]+)\/docs\/(resources|data-sources)\/\S+ (aws_[a-z0-9_]+)\}/.exec(t.docs.summary);
  if (!m || (t.base !== 'cdktf.TerraformResource' && t.base !== 'cdktf.TerraformDataSource')) continue;
  providerVersion = m[1];
  classes[m[2] === 'resources' ? 'resource' : 'data'][m[3]] = t;
}

const jsCache = {};
function libSource(cls) {
  // locationInModule: src/<dir>/index.ts → lib/<dir>/*.js (large resources split their structs
  // into lib/<dir>/index-structs/).
  const dir = path.join(pkgDir, 'lib', path.dirname(cls.locationInModule.filename).replace(/^src\//, ''));
  if (!(dir in jsCache)) {
    const files = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (e.name.endsWith('.js')) files.push(path.join(d, e.name));
      }
    };
    walk(dir);
    // Drop the inline source maps: they repeat the TypeScript source.
    jsCache[dir] = files.map((f) => fs.readFileSync(f, 'utf8').replace(/\/\/# sourceMappingURL=.*$/gm, '')).join('\n');
  }
  return jsCache[dir];
}

// hclAttrs parses one "const attrs = { name: { value: ..., isBlock: b, type: "t", ... }, ... }"
// body into {name: {isBlock, type}}.
function hclAttrs(body) {
  const out = {};
  const re = /^\s+([a-z0-9_]+): \{\s*value: [\s\S]*?isBlock: (true|false),\s*type: "(\w+)",\s*storageClassType: "(\w+)"/gm;
  let m;
  while ((m = re.exec(body)) !== null) out[m[1]] = { isBlock: m[2] === 'true', type: m[3], storage: m[4] };
  return out;
}

function sliceFrom(src, start) {
  const i = src.indexOf(start);
  if (i < 0) return null;
  const end = src.indexOf('// remove undefined attributes', i);
  return src.slice(i, end < 0 ? undefined : end);
}

function hclName(prop) {
  const text = `${prop.docs.summary || ''} ${prop.docs.remarks || ''}`;
  const m = /#([a-z0-9_]+) [A-Za-z0-9]+#/.exec(text);
  return m ? m[1] : null;
}

// structOf returns the struct fqn of a property type (a block or a nested object), and whether
// it is a collection.
function structOf(type) {
  if (type.fqn && types[type.fqn] && types[type.fqn].datatype) return { fqn: type.fqn, many: false };
  if (type.collection) {
    const s = structOf(type.collection.elementtype);
    return s ? { fqn: s.fqn, many: true } : null;
  }
  if (type.union) {
    for (const u of type.union.types) {
      const s = structOf(u);
      if (s) return s;
    }
  }
  return null;
}

// ctyType maps a jsii type to a Terraform type: "string", "number", "bool", "dynamic",
// ["list"|"set"|"map", element].
function ctyType(type, hcl) {
  if (type.primitive) return { string: 'string', number: 'number', boolean: 'bool' }[type.primitive] || 'dynamic';
  if (type.union) {
    const real = type.union.types.filter((u) => u.fqn !== 'cdktf.IResolvable');
    return real.length === 1 ? ctyType(real[0], hcl) : 'dynamic';
  }
  if (type.collection) {
    const kind = type.collection.kind === 'map' ? 'map' : (hcl && hcl.type === 'set' ? 'set' : 'list');
    return [kind, ctyType(type.collection.elementtype)];
  }
  return 'dynamic';
}

function block(structFqn, hcl, cls, problems, where) {
  const t = types[structFqn];
  const out = { attributes: {}, blocks: {} };
  for (const prop of t.properties || []) {
    const name = hclName(prop);
    if (!name) {
      problems.push(`${where}: property ${prop.name} has no registry anchor`);
      continue;
    }
    const h = hcl[name];
    if (!h) {
      problems.push(`${where}: ${name} is missing from the HCL synthesis`);
      continue;
    }
    const s = structOf(prop.type);
    if (h.isBlock) {
      if (!s) {
        problems.push(`${where}: block ${name} has no struct type`);
        continue;
      }
      const fn = s.fqn.split('.').pop();
      const fnName = fn.charAt(0).toLowerCase() + fn.slice(1) + 'ToHclTerraform(struct)';
      const body = sliceFrom(libSource(cls), 'function ' + fnName);
      if (!body) {
        problems.push(`${where}: ${fnName} not found`);
        continue;
      }
      out.blocks[name] = {
        nesting: s.many ? (h.type === 'set' ? 'set' : 'list') : 'single',
        min_items: prop.optional ? 0 : 1,
        max_items: s.many ? 0 : 1,
        block: block(s.fqn, hclAttrs(body), cls, problems, `${where}.${name}`),
      };
    } else {
      out.attributes[name] = { type: s ? 'dynamic' : ctyType(prop.type, h), required: !prop.optional };
    }
  }
  return out;
}

const result = { provider: 'hashicorp/aws', version: providerVersion, package: `${pkg.name} ${pkg.version}`, resources: {}, data_sources: {} };
const problems = [];
for (const w of wanted) {
  const [kind, name] = w.split(':');
  const cls = classes[kind] && classes[kind][name];
  if (!cls) {
    // Not in the provider: the checker reports the unknown type where it is used.
    continue;
  }
  const configFqn = cls.initializer.parameters.find((p) => p.name === 'config').type.fqn;
  const src = libSource(cls);
  const classStart = src.indexOf(`class ${cls.name} extends cdktf.`);
  const classSrc = src.slice(classStart, src.indexOf(`exports.${cls.name} =`, classStart));
  const synth = sliceFrom(classSrc, 'synthesizeHclAttributes() {');
  const b = block(configFqn, hclAttrs(synth), cls, problems, name);
  // Read-only attributes: commented "computed: true, optional: false, required: false".
  const re = /\/\/ ([a-z0-9_]+) - computed: true, optional: false, required: false\n\s*get \w+\(\) \{\s*return this\.(get\w*Attribute|interpolationForAttribute)\(|\/\/ ([a-z0-9_]+) - computed: true, optional: false, required: false/g;
  let m;
  while ((m = re.exec(classSrc)) !== null) {
    const attr = m[1] || m[3];
    if (b.attributes[attr] || b.blocks[attr]) continue;
    const getter = { getStringAttribute: 'string', getNumberAttribute: 'number', getBooleanAttribute: 'bool', getListAttribute: ['list', 'string'], getStringMapAttribute: ['map', 'string'] }[m[2]];
    b.attributes[attr] = { type: getter || 'dynamic', required: false, computed_only: true };
  }
  (kind === 'resource' ? result.resources : result.data_sources)[name] = b;
}
if (problems.length) {
  console.error('gen-schema: cannot read the schema:\n  ' + problems.join('\n  '));
  process.exit(1);
}
process.stdout.write(JSON.stringify(result, null, 1) + '\n');
