import { readSettings } from '../shared/settings.js';

/** The CLI's settings, read from its environment once, when it starts. */
export const settings = readSettings(process.env);
