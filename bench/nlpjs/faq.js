// NLP.js on the same FAQ as amtsbot: train one intent per FAQ question,
// classify every paraphrase and out-of-scope sentence, print one JSON line.
const fs = require('fs');
const { dockStart } = require('@nlpjs/basic');

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const dock = await dockStart({ use: ['Basic', 'LangDe'], settings: { nlp: { log: false } } });
  const nlp = dock.get('nlp');
  nlp.addLanguage('de');
  for (const [id, q] of input.faq) nlp.addDocument('de', q, id);
  await nlp.train();
  const t0 = process.hrtime.bigint();
  const classify = async (s) => {
    const r = await nlp.process('de', s);
    return r.intent && r.intent !== 'None' && r.score >= 0.5 ? r.intent : null;
  };
  const para = [];
  for (const s of input.para) para.push(await classify(s));
  const oos = [];
  for (const s of input.oos) oos.push(await classify(s));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ para, oos, per_s: (para.length + oos.length) / dt }));
}
main().catch((e) => { console.error(e); process.exit(1); });
