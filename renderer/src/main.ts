// Entry of the Svelte UI: one API client for the engine that served this page, the stores on
// top of it, and the root component.
import { mount } from 'svelte'
import App from './App.svelte'
import { ApiClient, readLaunchToken } from './lib/api-client.ts'
import { createAppStore, createThemeStore } from './lib/stores.ts'
import { initialTheme } from './lib/theme.ts'
import './app.css'

const token = readLaunchToken(window.location, window.sessionStorage, window.history)
const api = new ApiClient({ baseUrl: window.location.origin, token })
const store = createAppStore(api)
const theme = createThemeStore({
  initial: initialTheme(window.localStorage),
  storage: window.localStorage,
  media: window.matchMedia('(prefers-color-scheme: dark)'),
})
// The attribute drives the CSS (see app.css); set before the first paint to avoid a flash.
theme.choice.subscribe((choice) => {
  document.documentElement.dataset['theme'] = choice
})

const target = document.getElementById('app')
if (target === null) throw new Error('index.html has no #app element')
mount(App, { target, props: { store, theme } })
store.connect()
