/* The cost page's number formats and chart series (the defects a new user met: `$1.00e-9` on an empty
 * month's axis, two applications in one colour past ten, a row with no name). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appLabel, foldSeries, UNATTRIBUTED, usd } from './format.js';

describe('UI formats', () => {
  it('dollars never in exponent form, cents from a cent up', () => {
    assert.equal(usd(0), '$0');
    assert.equal(usd(12.345), '$12.35');
    assert.equal(usd(0.01), '$0.01');
    assert.equal(usd(0.0012345), '$0.00123');
    assert.equal(usd(1e-9), '$0.000000001');
    assert.equal(usd(-0.5), '-$0.50');
    for (const n of [1e-12, 3.3e-7, 0.004, 7]) assert.doesNotMatch(usd(n), /e/, String(n));
  });

  it('names traffic without a process instead of leaving the name empty', () => {
    assert.equal(appLabel(''), UNATTRIBUTED);
    assert.equal(appLabel('payments'), 'payments');
  });

  it('keeps the largest series apart and folds the rest into one, so no colour repeats', () => {
    const points = Array.from({ length: 14 }, (_, i) => ({ t: 0, app: `app${i}`, cost_usd: i + 1 }));
    points.push({ t: 0, app: '', cost_usd: 0.5 });
    const { series, points: folded } = foldSeries(points, 9);
    assert.equal(series.length, 10);
    assert.deepEqual(series.slice(0, 9), ['app13', 'app12', 'app11', 'app10', 'app9', 'app8', 'app7', 'app6', 'app5']);
    assert.equal(series[9], '6 others');
    const total = (xs: { cost_usd: number }[]) => xs.reduce((s, p) => s + p.cost_usd, 0);
    assert.equal(total(folded), total(points), 'folding keeps every dollar');
    assert.equal(total(folded.filter((p) => p.app === '6 others')), 1 + 2 + 3 + 4 + 5 + 0.5);
    // ten or fewer: all shown by name
    assert.deepEqual(foldSeries(points.slice(0, 3), 9).series, ['app2', 'app1', 'app0']);
  });
});
