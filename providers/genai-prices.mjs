// genai-prices.mjs PACKAGE_DIR OUT: writes quotapool's price catalog (providers/prices.json)
// from an installed @pydantic/genai-prices package (MIT). Run by update-prices.sh, never by
// the build. The package embeds its data as the first array literal of dist/index.js; that
// literal is read here, checked, and reduced to what fcgi/prices.c prices:
//   rates in integer microdollars per million tokens (rounded: off by < 0.5 µ$ per Mtok) (in, out, cr = cache read, cw = cache
//   write); a rate is a number, or [base, start1, rate1, start2, rate2, ...] when it is
//   tiered (the whole category at rateN once the request's input tokens, cache included,
//   exceed startN);
//   match rules as genai-prices writes them (equals, starts_with, ends_with, contains, or,
//   and: case-insensitive), except that regex is rewritten to POSIX ERE (case-sensitive)
//   and a leading negative lookahead ^(?!P)R becomes {"and":[{"not":{"regex":"^P"}},...]};
//   dated prices as "from": [["YYYY-MM-DD", {rates}], ...], oldest first.
// Dropped, and said so in the header: time-of-day discounts, audio, image, per-request
// and web-search prices, models with neither an input nor an output price.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [pkgDir, out] = process.argv.slice(2);
if (!pkgDir || !out) {
	console.error('usage: genai-prices.mjs PACKAGE_DIR OUT');
	process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const src = readFileSync(join(pkgDir, 'dist', 'index.js'), 'utf8');
const start = src.indexOf('[');
const end = src.indexOf('\n], ');
if (!src.startsWith('const ') || start < 0 || end < 0)
	throw new Error('dist/index.js: the embedded provider list was not found');
const providers = (0, eval)('(' + src.slice(start, end + 2) + ')');
if (!Array.isArray(providers) || providers.length < 10 ||
    !providers.every((p) => typeof p.id === 'string' && Array.isArray(p.models)))
	throw new Error('dist/index.js: the embedded list is not a provider list');

const KEYS = { input_mtok: 'in', output_mtok: 'out', cache_read_mtok: 'cr',
    cache_write_mtok: 'cw' };
const dropped = new Set();
let rounded = 0;

function micro(d, where) {
	if (typeof d !== 'number' || !Number.isFinite(d) || d < 0)
		throw new Error(`${where}: bad price ${d}`);
	const m = Math.round(d * 1e6);
	if (Math.abs(m - d * 1e6) > 1e-3)
		rounded++;	/* off by under 0.5 microdollar per million tokens */
	return m;
}

function rate(v, where) {
	if (typeof v === 'number')
		return micro(v, where);
	const r = [micro(v.base, where)];
	for (const t of [...v.tiers].sort((a, b) => a.start - b.start)) {
		if (!Number.isSafeInteger(t.start) || t.start < 0)
			throw new Error(`${where}: bad tier start`);
		r.push(t.start, micro(t.price, where));
	}
	return r;
}

function rates(p, where) {
	const r = {};
	for (const [k, v] of Object.entries(p)) {
		if (v === undefined)
			continue;
		if (KEYS[k])
			r[KEYS[k]] = rate(v, `${where}.${k}`);
		else
			dropped.add(k);
	}
	return r;
}

// JavaScript regex -> POSIX ERE, or an error for what ERE cannot say.
function ere(re, where) {
	const s = re.replace(/\\d/g, '[0-9]').replace(/\(\?:/g, '(');
	if (/\(\?|\\[wWsSDbB]|[*+?}]\?/.test(s))
		throw new Error(`${where}: regex ${re} has no POSIX form`);
	return s;
}

function match(m, where) {
	if (m.or)
		return { or: m.or.map((x) => match(x, where)) };
	if (m.and)
		return { and: m.and.map((x) => match(x, where)) };
	if (m.regex !== undefined) {
		const la = /^\^\(\?!((?:[^()]|\((?:\?:)?[^()]*\))*)\)(.*)$/.exec(m.regex);
		if (la) {
			const parts = [{ not: { regex: ere('^' + la[1], where) } }];
			if (la[2] !== '')
				parts.push({ regex: ere('^' + la[2], where) });
			return parts.length === 1 ? parts[0] : { and: parts };
		}
		return { regex: ere(m.regex, where) };
	}
	for (const k of ['equals', 'starts_with', 'ends_with', 'contains'])
		if (typeof m[k] === 'string')
			return { [k]: m[k] };
	throw new Error(`${where}: unknown match ${JSON.stringify(m)}`);
}

function model(p, m) {
	const where = `${p.id}/${m.id}`;
	const o = { id: m.id, match: match(m.match, where) };
	if (!Array.isArray(m.prices)) {
		Object.assign(o, rates(m.prices, where));
	} else {
		const from = [];
		for (const c of m.prices) {
			if (c.constraint === undefined)
				from.push(['', rates(c.prices, where)]);
			else if (c.constraint.type === 'start_date')
				from.push([c.constraint.start_date, rates(c.prices, where)]);
			else
				dropped.add('time_of_date');
		}
		from.sort((a, b) => a[0].localeCompare(b[0]));
		if (from.length === 0)
			return null;
		o.from = from;
	}
	const has = (r) => r.in !== undefined || r.out !== undefined;
	if (o.from ? !o.from.some(([, r]) => has(r)) : !has(o))
		return null;
	return o;
}

let nmodels = 0;
const list = providers.map((p) => {
	const o = { id: p.id, name: p.name, api: ere(p.api_pattern, p.id) };
	if (p.provider_match)
		o.provider_match = match(p.provider_match, p.id);
	if (p.model_match)
		o.model_match = match(p.model_match, p.id);
	if (p.fallback_model_providers)
		o.fallback = p.fallback_model_providers;
	o.models = p.models.map((m) => model(p, m)).filter((m) => m !== null);
	nmodels += o.models.length;
	return o;
});

const date = new Date().toISOString().slice(0, 10);
const head = {
	source: `${pkg.name}@${pkg.version}`,
	generated: date,
	license: `${pkg.license}: Copyright (c) Pydantic Services Inc. 2025 to present`,
	units: 'microdollars per million tokens; tiers apply once input tokens exceed start',
	dropped: [...dropped].sort(),
	rounded: `${rounded} rates rounded to whole microdollars per million tokens`,
};
// One provider header per line and one model per line: small diffs on update.
let text = '{"catalog":' + JSON.stringify(head) + ',\n"providers":[\n';
text += list.map((p) => {
	const { models, ...rest } = p;
	const h = JSON.stringify(rest).slice(0, -1);
	return h + ',"models":[\n' + models.map((m) => JSON.stringify(m)).join(',\n') + ']}';
}).join(',\n');
text += ']}\n';
JSON.parse(text);
writeFileSync(out, text);
console.log(`${out}: ${head.source}, ${list.length} providers, ${nmodels} models, ` +
    `${text.length} bytes`);
