export { renderPage, escapeHtml, type PageContent } from './render.js';
