/* Interface texts of the chat page, one set per language tag. Plain text only. */
"use strict";

window.MAAK_TEXTS = {
  "ar": {
    dir: "rtl",
    language: "اللغة",
    placeholder: "اكتبي رسالتك هنا…",
    messageLabel: "رسالتك",
    send: "إرسال",
    exit: "خروج سريع",
    historyNote: "الخروج السريع (زر Esc) لا يمحو سجل المتصفح.",
    connectionLost: "انقطع الاتصال، جارٍ إعادة المحاولة… ستُرسَل رسائلك.",
    pending: "في انتظار الإرسال",
    you: "أنتِ:",
    reply: "الرد:",
    remaining: "تبقّى {n} حرفًا",
    limit: "وصلتِ إلى الحد الأقصى (2000 حرف)"
  },
  "ary": {
    dir: "rtl",
    language: "اللغة",
    placeholder: "كتبي الميساج ديالك هنا…",
    messageLabel: "الميساج ديالك",
    send: "صيفطي",
    exit: "خروج دغيا",
    historyNote: "الخروج دغيا (زر Esc) ما كيمسحش السجل ديال المتصفح.",
    connectionLost: "تقطع الاتصال، كنعاودو نحاولو… الميساجات ديالك غادي يتصيفطو.",
    pending: "مازال ما تصيفطش",
    you: "نتي:",
    reply: "الجواب:",
    remaining: "باقي {n} حرف",
    limit: "وصلتي للحد (2000 حرف)"
  },
  "ary-Latn": {
    dir: "ltr",
    language: "Logha",
    placeholder: "Ktbi lmessage dyalek hna…",
    messageLabel: "Lmessage dyalek",
    send: "Sifti",
    exit: "Khrouj dghya",
    historyNote: "Lkhrouj dghya (Esc) ma kaymse7ch l'historique dyal navigateur.",
    connectionLost: "Tqta3 l'connexion, kan3awdo n7awlo… lmessages dyalek ghadi ytsifto.",
    pending: "Mazal ma tsiftch",
    you: "Nti:",
    reply: "Jawab:",
    remaining: "Ba9i {n} 7arf",
    limit: "Wselti l7ad (2000 7arf)"
  },
  "fr": {
    dir: "ltr",
    language: "Langue",
    placeholder: "Écrivez votre message…",
    messageLabel: "Votre message",
    send: "Envoyer",
    exit: "Sortie rapide",
    historyNote: "La sortie rapide (touche Échap) n'efface pas l'historique du navigateur.",
    connectionLost: "Connexion perdue, nouvel essai… vos messages seront envoyés.",
    pending: "En attente d'envoi",
    you: "Vous :",
    reply: "Réponse :",
    remaining: "Encore {n} caractères",
    limit: "Limite atteinte (2000 caractères)"
  },
  "en": {
    dir: "ltr",
    language: "Language",
    placeholder: "Write your message…",
    messageLabel: "Your message",
    send: "Send",
    exit: "Quick exit",
    historyNote: "Quick exit (Esc) does not erase your browser history.",
    connectionLost: "Connection lost, retrying… your messages will be sent.",
    pending: "Not sent yet",
    you: "You:",
    reply: "Reply:",
    remaining: "{n} characters left",
    limit: "Limit reached (2000 characters)"
  }
};
