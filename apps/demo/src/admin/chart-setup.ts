/**
 * Chart.js with only the pieces the dashboard draws (tree-shaken): line and bar charts on
 * linear/category scales, legend and tooltip. The x axis of the time charts is a linear scale
 * of ms epoch with clock labels, so no date adapter is needed.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, LinearScale, CategoryScale, Filler, Legend, Tooltip);
Chart.defaults.font.family = 'system-ui, sans-serif';
Chart.defaults.font.size = 11;
Chart.defaults.color = '#475569';
Chart.defaults.animation = false;

export const COLORS = {
  blue: '#2563eb',
  green: '#16a34a',
  orange: '#ea580c',
  purple: '#7c3aed',
  red: '#dc2626',
  teal: '#0d9488',
  grey: '#94a3b8',
};

export function clockLabel(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export { Chart };
