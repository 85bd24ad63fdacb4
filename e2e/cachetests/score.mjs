// Scores a results file of http-cache-tests the way the suite's own page
// does: the required tests (kind "required" or unset) of every suite but
// Surrogate-Control, each a pass, a fail, a setup failure, a dependency
// failure (a test it depends on did not pass) or untested.
//
//   node score.mjs RESULTS.json [--json]
import fs from 'fs'
import tests from './node_modules/http-cache-tests/tests/index.mjs'

const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const byId = new Map()
for (const suite of tests) for (const t of suite.tests) byId.set(t.id, t)

function outcome (id) {
  const t = byId.get(id)
  const r = results[id]
  if (r === undefined) return 'untested'
  for (const d of t.depends_on || []) {
    const o = outcome(d)
    if (o !== 'pass' && o !== 'yes') return 'dependency'
  }
  if (r[0] === 'Setup') return r[1] === 'retry' ? 'retry' : 'setup'
  if (t.kind === undefined || t.kind === 'required') return r === true ? 'pass' : 'fail'
  if (t.kind === 'optimal') return r === true ? 'pass' : 'optional_fail'
  return r === true ? 'yes' : 'no'
}

const score = { required: 0, pass: 0, fail: 0, setup: 0, dependency: 0, untested: 0, retry: 0, others: [] }
for (const suite of tests) {
  for (const t of suite.tests) {
    if (t.browser_only || (t.kind !== undefined && t.kind !== 'required')) continue
    score.required++
    const o = outcome(t.id)
    score[o]++
    if (o !== 'pass') score.others.push({ id: t.id, outcome: o, result: results[t.id], name: t.name })
  }
}
if (process.argv[3] === '--json') {
  console.log(JSON.stringify(score))
} else {
  console.log(`required ${score.required}: pass ${score.pass}, fail ${score.fail}, setup failure ${score.setup}, ` +
    `dependency failure ${score.dependency}, untested ${score.untested}`)
  for (const o of score.others) console.log(`  ${o.outcome}: ${o.id} ${JSON.stringify(o.result)}`)
}
