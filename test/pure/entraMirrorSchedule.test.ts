import '../support/functionsCore';
import { ConfigError, readSettings, resetSettings } from '../../shared/config';

// ENTRA_MIRROR_SCHEDULE: an NCRONTAB expression turns the mirror's timer function on; unset, it is off.

describe('ENTRA_MIRROR_SCHEDULE', () => {
  it.each(['0 0 * * * *', '0 */30 2-5 * * 1-5', '01:00:00'])('accepts %s', (schedule) => {
    expect(readSettings({ ENTRA_MIRROR_SCHEDULE: schedule }).entraMirrorSchedule).toBe(schedule);
  });

  it('is off when unset or empty', () => {
    expect(readSettings({}).entraMirrorSchedule).toBeUndefined();
    expect(readSettings({ ENTRA_MIRROR_SCHEDULE: ' ' }).entraMirrorSchedule).toBeUndefined();
  });

  it.each(['0 * * * *', 'hourly', '0 0 * * * * *'])('refuses %s, naming the setting', (schedule) => {
    expect(() => readSettings({ ENTRA_MIRROR_SCHEDULE: schedule })).toThrow(ConfigError);
    expect(() => readSettings({ ENTRA_MIRROR_SCHEDULE: schedule })).toThrow(/^ENTRA_MIRROR_SCHEDULE must be an NCRONTAB expression/);
  });
});

describe('the timer function', () => {
  /** The non-HTTP functions registered by loading functions/entraMirror.ts with the given schedule. */
  async function registeredWith(schedule: string | undefined): Promise<string[]> {
    const saved = process.env.ENTRA_MIRROR_SCHEDULE;
    if (schedule === undefined) delete process.env.ENTRA_MIRROR_SCHEDULE;
    else process.env.ENTRA_MIRROR_SCHEDULE = schedule;
    try {
      let names: string[] = [];
      await jest.isolateModulesAsync(async () => {
        (await import('../../shared/config')).resetSettings();
        await import('../../functions/entraMirror');
        names = (await import('../../scripts/devhost/host/functionsCore')).registeredNonHttpFunctionNames();
      });
      return names;
    } finally {
      if (saved === undefined) delete process.env.ENTRA_MIRROR_SCHEDULE;
      else process.env.ENTRA_MIRROR_SCHEDULE = saved;
      resetSettings();
    }
  }

  it('is registered (a timer trigger) when ENTRA_MIRROR_SCHEDULE is set', async () => {
    expect(await registeredWith('0 15 * * * *')).toEqual(['entraMirror']);
  });

  it('is not registered at all when it is unset', async () => {
    expect(await registeredWith(undefined)).toEqual([]);
  });
});
